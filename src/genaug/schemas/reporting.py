"""The `reporting` block: a title per ablation report."""

from __future__ import annotations

from genaug.schemas.base import Schema


class AblationReport(Schema):
    """How one ablation's report is labelled."""

    # Heading of the Markdown results table.
    title: str


class ReportingParams(Schema):
    """One report per ablation."""

    threshold: AblationReport
    training: AblationReport
