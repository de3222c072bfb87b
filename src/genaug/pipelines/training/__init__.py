"""Training: per-arm classifiers (real_only, joint, sequential, real_augmented) over seeds."""

from genaug.pipelines.training.pipeline import create_template

__all__ = ["create_template"]
