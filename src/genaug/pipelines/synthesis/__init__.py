"""Synthesis: train a closed-set generator (or reference a pretrained one) and sample the pool."""

from genaug.pipelines.synthesis.pipeline import (
    create_generator_template,
    create_pipeline,
    create_pool_template,
)

__all__ = ["create_generator_template", "create_pipeline", "create_pool_template"]
