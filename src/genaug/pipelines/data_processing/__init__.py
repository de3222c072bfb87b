"""Data processing: raw images to the low-data `real_train`, `real_reserve` and `real_test`."""

from genaug.pipelines.data_processing.pipeline import create_pipeline, create_size_template

__all__ = ["create_pipeline", "create_size_template"]
