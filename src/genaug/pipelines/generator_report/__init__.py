"""Generator report: how good the synthetic pool is as labelled training data."""

from genaug.pipelines.generator_report.pipeline import (
    create_kept_cas_pipeline,
    create_kept_pipeline,
    create_pipeline,
    create_report_template,
)

__all__ = ["create_kept_cas_pipeline", "create_kept_pipeline", "create_pipeline",
           "create_report_template"]
