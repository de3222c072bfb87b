"""Tiny, easily separable image bundles and the project's base+test parameters for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from genaug.schemas.base import deep_merge
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.training import TrainingParams

REPO = Path(__file__).resolve().parents[3]


def conf_params(stage: str) -> dict[str, Any]:
    """conf/base parameters of a stage deep-merged with conf/test's overrides."""
    base = yaml.safe_load((REPO / "conf/base" / f"parameters_{stage}.yml").read_text())
    test_file = REPO / "conf/test" / f"parameters_{stage}.yml"
    test = yaml.safe_load(test_file.read_text()) if test_file.exists() else {}
    return deep_merge(base[stage], (test or {}).get(stage, {}))


def training_params(overrides: dict[str, Any] | None = None) -> TrainingParams:
    """The conf/test training block with an arm's overrides, as the hook hands it to nodes."""
    return TrainingParams.model_validate(deep_merge(conf_params("training"), overrides))


def evaluation_params(overrides: dict[str, Any] | None = None) -> EvaluationParams:
    """The conf/test evaluation block with an arm's overrides, as the hook hands it to nodes."""
    return EvaluationParams.model_validate(deep_merge(conf_params("evaluation"), overrides))


def patterns(per_class: int = 20, num_classes: int = 4, shape: tuple[int, int, int] = (1, 16, 16),
             seed: int = 0, noise: float = 40.0) -> dict[str, torch.Tensor]:
    """Class c = stripes (horizontal for even c, vertical for odd c) of period 2 + c // 2, with a
    random phase and noise: separable by texture, not position (the CNN pools globally)."""
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    n = per_class * num_classes
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.randn((n, c, h, w), generator=gen) * noise + 60.0
    phases = torch.randint(0, 64, (n,), generator=gen)
    for i, label in enumerate(labels.tolist()):
        period = 2 + label // 2
        if label % 2 == 0:
            on = ((torch.arange(h) + phases[i]) // (period // 2 + period % 2)) % 2 == 0
            images[i, :, on, :] += 150.0
        else:
            on = ((torch.arange(w) + phases[i]) // (period // 2 + period % 2)) % 2 == 0
            images[i, :, :, on] += 150.0
    return {"images": images.clamp(0, 255).round().to(torch.uint8), "labels": labels}


def names(k: int = 4) -> list[str]:
    """Class names for k classes."""
    return [f"class_{i}" for i in range(k)]
