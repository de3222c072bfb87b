"""Filtering: a CLIP scores the synthetic pool; per-arm filters keep the top of each class."""

from genaug.pipelines.filtering.pipeline import (
    create_clip_template,
    create_pipeline,
    create_scoring_template,
    create_template,
)

__all__ = ["create_clip_template", "create_pipeline", "create_scoring_template",
           "create_template"]
