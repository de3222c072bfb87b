"""CLIP-filter threshold ablation: baseline plus one joint-training arm per drop fraction."""

from genaug.pipelines.ablation_threshold.pipeline import create_pipeline

__all__ = ["create_pipeline"]
