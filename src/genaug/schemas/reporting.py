"""The `reporting` block: per ablation report, its title, arm labels, comparisons and levels."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from genaug.schemas.base import Schema

Pair = Annotated[list[str], Field(min_length=2, max_length=2)]


class AblationReport(Schema):
    """How one ablation's report is labelled and which comparisons it tests."""

    # Heading of the Markdown results table.
    title: str
    # Display names of arms in the Markdown table and verdicts (arm -> label).
    labels: dict[str, str] = Field(default_factory=dict)
    # Pairs [arm, reference] compared (arm − reference) besides every arm vs the baseline.
    comparisons: list[Pair] = Field(default_factory=list)
    # Level of every confidence interval (Top-1, differences, equivalent real images).
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    # Family-wise error rate: a comparison is "distinguishable" when its Holm-adjusted p is
    # below it (the family: every comparison of the table).
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    # Equivalence margin Δ (pp): a comparison is "equivalent" when a paired TOST shows
    # |arm − reference| < Δ (Holm-adjusted over the table's comparisons, at `alpha`).
    equivalence_margin_pp: Annotated[float, Field(gt=0.0)] = 0.5


class ReportingParams(Schema):
    """One report per ablation."""

    threshold: AblationReport
    training: AblationReport
    quality: AblationReport
