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

from genaug.common.validation import ParameterError
from genaug.schemas.training import ClassifierParams


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


def num_classes_of(class_names: Any) -> int:
    """Number of classes to build a classifier for, from the `class_names` dataset."""
    if not isinstance(class_names, list) or len(class_names) < 2:
        raise ParameterError("class_names", "a list of at least two class names", class_names)
    return len(class_names)


def build_classifier(params: ClassifierParams, in_channels: int, num_classes: int) -> nn.Module:
    """Build the classifier named by `params.architecture` for the data's channels and classes."""
    if params.architecture == "fast_cnn":
        cnn = params.fast_cnn
        return FastCNN(in_channels, num_classes, cnn.widths, cnn.dropout, cnn.convs_per_stage)
    return SmallResNet18(in_channels, num_classes)


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
