"""The `generator_report` block: how the synthetic pool's quality is measured."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from genaug.schemas.base import Schema


class GeneratorReportParams(Schema):
    """Label fidelity, CAS, memorization and FID/IS of the pool against real data."""

    # Classification Accuracy Score: a classifier with the baseline arm's training settings
    # (strategy real_only) trained on the pool alone, tested on real_test. Costs one
    # classifier training per CAS seed (the report records its seconds).
    cas: bool = True
    # How many of training.seeds (the first ones) the CAS trains a classifier for; null = all.
    cas_seeds: Annotated[int, Field(ge=1)] | None = 1
    # A pool image counts as memorized when it is closer (pixel L2) to a real_train image
    # than this quantile of real_test's nearest-real_train distances (0.01: closer than
    # 99 % of real_test images are).
    memorization_quantile: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    # Closest synthetic/real pairs shown in the report's figure.
    closest_pairs: Annotated[int, Field(ge=1)] = 16
    # Query batch of the nearest-neighbour search (memory only).
    nn_batch_size: Annotated[int, Field(ge=1, json_schema_extra={"affects_results": False})] \
        = 1024
