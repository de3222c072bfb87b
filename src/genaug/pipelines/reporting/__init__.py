"""Reporting: results tables, plots and MLflow metrics for both ablations."""

from genaug.pipelines.reporting.pipeline import create_report_pipeline

__all__ = ["create_report_pipeline"]
