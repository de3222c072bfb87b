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


class PublishedConstant(Schema):
    """A published exchange rate c2 of the study's law, with where it comes from."""

    dataset: str
    generator: str
    c2: Annotated[float, Field(gt=1.0)]
    source: str


class DataSizeReport(Schema):
    """The data-size report: each size's arms against its own baseline, and the law's fit."""

    title: str
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    equivalence_margin_pp: Annotated[float, Field(gt=0.0)] = 0.5
    # The law's size scale k (images): n_syn / n_base = c1^(n_base / k) (c2^(n_real+ / n_base)
    # − 1). c1 is per k images (c2 does not depend on k).
    law_k: Annotated[float, Field(gt=0.0)] = 1000.0
    # The study's constants the fit is printed beside.
    published: list[PublishedConstant] = Field(default_factory=list)

    def ablation_report(self) -> AblationReport:
        """The per-size results tables' settings (no extra comparisons, no labels)."""
        return AblationReport(title=self.title, confidence=self.confidence, alpha=self.alpha,
                              equivalence_margin_pp=self.equivalence_margin_pp)


class ReportingParams(Schema):
    """One report per ablation."""

    threshold: AblationReport
    training: AblationReport
    quality: AblationReport
    data_size: DataSizeReport
