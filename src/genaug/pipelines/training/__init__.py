"""Training: per-arm classifiers (real_only, joint, sequential, real_augmented) over seeds, and
the extra real images of the real-augmentation arms."""

from genaug.pipelines.training.pipeline import (
    create_curve_real_template,
    create_matched_real_template,
    create_template,
)

__all__ = ["create_curve_real_template", "create_matched_real_template", "create_template"]
