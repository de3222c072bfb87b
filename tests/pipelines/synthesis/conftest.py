"""Fixtures shared by the synthesis tests: tiny real_train and a generator trained on it."""

from __future__ import annotations

import pytest
import torch

from genaug.pipelines.synthesis import nodes as N
from tests.support import SYNTHESIS_CLASSES as NAMES
from tests.support import synthesis_params


@pytest.fixture(scope="module")
def real_train() -> dict[str, torch.Tensor]:
    """4 classes × 8 images of 1×28×28 (the conf/test shape)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 1, 28, 28), generator=gen, dtype=torch.uint8)
    return {"images": images, "labels": torch.arange(4).repeat_interleave(8)}


@pytest.fixture(scope="module")
def generator(real_train) -> dict[str, torch.Tensor]:
    """A tiny closed-set generator trained for a few steps."""
    return N.train_generator(real_train, NAMES, synthesis_params(), 7, "cpu")
