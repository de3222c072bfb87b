"""Training-strategy ablation: baseline, joint, sequential and real-augmented on one pool."""

from genaug.pipelines.ablation_training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
