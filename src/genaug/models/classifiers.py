"""Image classifiers rebuilt from parameters: a fast CNN (CPU default) and a small-image ResNet-18.

Every classifier takes float images already normalised by `normalize_images` and exposes
`forward_features` (the penultimate layer, used as FID features by the evaluator) next to
`forward` (logits). Weights travel as plain state_dicts (safetensors), never pickled modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from genaug.common.validation import ParameterError, check_float, check_int

ARCHITECTURES = ("fast_cnn", "resnet18")


class FastCNN(nn.Module):
    """Conv-BN-ReLU stages (`convs_per_stage` each, 2×2 max-pool between stages), GAP, dropout,
    linear head."""

    def __init__(self, in_channels: int, num_classes: int,
                 widths: Sequence[int] = (32, 64, 128), dropout: float = 0.2,
                 convs_per_stage: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)
        self.num_features = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (after global average pooling)."""
        return torch.flatten(self.pool(self.body(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.dropout(self.forward_features(x)))


class SmallResNet18(nn.Module):
    """torchvision's ResNet-18 with a small-image stem: 3×3 conv stride 1 and no max-pool."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.net = net
        self.num_features = net.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (after global average pooling)."""
        n = self.net
        x = n.relu(n.bn1(n.conv1(x)))
        x = n.layer4(n.layer3(n.layer2(n.layer1(n.maxpool(x)))))
        return torch.flatten(n.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.net.fc(self.forward_features(x))


def check_architecture(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Validate the architecture keys of a training-like parameter dict; return builder kwargs."""
    arch = params.get("architecture")
    if arch not in ARCHITECTURES:
        raise ParameterError(f"{prefix}.architecture", f"one of {list(ARCHITECTURES)}", arch)
    if arch == "fast_cnn":
        cfg = params.get("fast_cnn") or {}
        if not isinstance(cfg, Mapping):
            raise ParameterError(f"{prefix}.fast_cnn",
                                 "a mapping (widths, dropout, convs_per_stage)", cfg)
        widths = cfg.get("widths", [32, 64, 128])
        if (not isinstance(widths, list | tuple) or not widths
                or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                           for w in widths)):
            raise ParameterError(f"{prefix}.fast_cnn.widths", "a non-empty list of positive ints",
                                 widths)
        dropout = check_float(cfg.get("dropout", 0.2), f"{prefix}.fast_cnn.dropout",
                              low=0.0, high=1.0, high_open=True)
        convs = check_int(cfg.get("convs_per_stage", 1), f"{prefix}.fast_cnn.convs_per_stage",
                          minimum=1)
        return {"architecture": arch, "widths": list(widths), "dropout": dropout,
                "convs_per_stage": convs}
    return {"architecture": arch}


def build_classifier(arch: Mapping[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """Build a classifier from `check_architecture` output, the data's channels and class count."""
    check_int(in_channels, "in_channels", minimum=1)
    check_int(num_classes, "num_classes", minimum=2)
    if arch["architecture"] == "fast_cnn":
        return FastCNN(in_channels, num_classes, arch["widths"], arch["dropout"],
                       arch["convs_per_stage"])
    return SmallResNet18(in_channels, num_classes)


def check_normalization(params: Mapping[str, Any], prefix: str, in_channels: int
                        ) -> tuple[list[float], list[float]] | None:
    """Validate `normalize: {mean, std}` (null = x/127.5-1); return per-channel mean/std or None."""
    cfg = params.get("normalize") or {}
    if not isinstance(cfg, Mapping):
        raise ParameterError(f"{prefix}.normalize", "a mapping with mean/std (or null)", cfg)
    mean, std = cfg.get("mean"), cfg.get("std")
    if mean is None and std is None:
        return None
    out = []
    for key, value in (("mean", mean), ("std", std)):
        if (not isinstance(value, list) or len(value) not in (1, in_channels)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            raise ParameterError(f"{prefix}.normalize.{key}",
                                 f"a list of 1 or {in_channels} numbers in [0, 1] (both mean and "
                                 "std, or both null for x/127.5-1)", value)
        out.append([float(v) for v in value])
    if any(s <= 0 for s in out[1]):
        raise ParameterError(f"{prefix}.normalize.std", "positive numbers", std)
    return out[0], out[1]


def normalize_images(images: torch.Tensor,
                     stats: tuple[list[float], list[float]] | None) -> torch.Tensor:
    """uint8 N×C×H×W -> float: (x/255 - mean)/std per channel, or x/127.5 - 1 when stats is None."""
    x = images.float()
    if stats is None:
        return x.div_(127.5).sub_(1.0)
    mean = torch.tensor(stats[0], device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(stats[1], device=x.device).view(1, -1, 1, 1)
    return x.div_(255.0).sub_(mean).div_(std)


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], parameter: str,
               source: str) -> nn.Module:
    """Load a state_dict strictly; on a mismatch fail naming the parameter that builds the model."""
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])[:400]
        raise ParameterError(
            parameter,
            f"the architecture that produced '{source}' (its weights do not fit the model "
            f"built from the parameters: {detail})",
            type(model).__name__,
        ) from exc
    return model


def pack_states(states: Mapping[int, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Flatten per-seed state_dicts into one safetensors-ready dict with keys `seed<N>/<param>`."""
    out = {}
    for seed, state in states.items():
        for key, value in state.items():
            out[f"seed{seed}/{key}"] = value.detach().cpu().clone().contiguous()
    return out


def unpack_states(packed: Mapping[str, torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
    """Invert `pack_states`: {seed: state_dict}."""
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in packed.items():
        head, _, name = key.partition("/")
        if not head.startswith("seed") or not name or not head[4:].lstrip("-").isdigit():
            raise ValueError(f"Classifier weights key {key!r} is not 'seed<N>/<param>'.")
        out.setdefault(int(head[4:]), {})[name] = value
    return out
