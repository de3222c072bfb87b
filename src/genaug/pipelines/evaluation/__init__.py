"""Evaluation: top-1 on real_test, FID/IS of synthetic sets, and the shared evaluator network."""

from genaug.pipelines.evaluation.pipeline import create_pipeline, create_template

__all__ = ["create_pipeline", "create_template"]
