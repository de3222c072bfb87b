"""Feature extractors for FID and Inception Score, fed uint8 N×C×H×W images by torchmetrics.

- `evaluator-cnn`: a classifier trained on real data (the `evaluator` dataset). FID uses its
  penultimate features (`EvaluatorFeatures`, `num_features` set so torchmetrics needs no dummy
  pass), IS its logits (`EvaluatorLogits`). With a custom module torchmetrics passes the images
  through untouched (we use `normalize=False` and uint8 input); these wrappers apply the
  evaluator's own normalisation.
- `inception-v3`: torchmetrics' `NoTrainInceptionV3` (torch-fidelity weights, 2048 pool features
  for FID, `logits_unbiased` for IS), loaded only from a local file: no download ever. Grey images
  are repeated to 3 channels; the network resizes to 299×299 itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from genaug.common.validation import ParameterError
from genaug.models.classifiers import build_classifier, load_state, normalize_images
from genaug.schemas.training import ClassifierParams

EVALUATOR = "evaluator-cnn"
INCEPTION = "inception-v3"


class _Frozen(nn.Module):
    """A wrapper that always stays in eval mode and never tracks gradients."""

    def train(self, mode: bool = True) -> _Frozen:
        """Ignore train(): feature extractors stay in eval mode."""
        return super().train(False)


class EvaluatorFeatures(_Frozen):
    """uint8 images -> the evaluator's penultimate features (float32)."""

    def __init__(self, model: nn.Module, stats) -> None:
        super().__init__()
        self.model, self.stats = model.eval(), stats
        self.num_features = int(model.num_features)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise and extract features."""
        return self.model.forward_features(normalize_images(images, self.stats))


class EvaluatorLogits(_Frozen):
    """uint8 images -> the evaluator's class logits (float32), for the Inception Score."""

    def __init__(self, model: nn.Module, stats) -> None:
        super().__init__()
        self.model, self.stats = model.eval(), stats
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalise and classify."""
        return self.model(normalize_images(images, self.stats))


class InceptionUint8(_Frozen):
    """uint8 images (1 or 3 channels) -> InceptionV3 features or unbiased logits."""

    def __init__(self, inception: nn.Module, num_features: int) -> None:
        super().__init__()
        self.inception = inception
        self.num_features = num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Repeat grey images to RGB and run the network (it resizes to 299×299)."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.inception(images.contiguous())


def check_inception_weights(path: str | None, parameter: str) -> Path:
    """Require a local InceptionV3 weights file that loads weights-only; never download."""
    if not path:
        raise ParameterError(parameter, "a local path to torch-fidelity InceptionV3 weights "
                             "(pt_inception-2015-12-05-6726825d.pth); nothing is downloaded", path)
    file = Path(path).expanduser()
    if not file.is_file():
        raise ParameterError(parameter, "an existing local file with torch-fidelity InceptionV3 "
                             "weights (nothing is downloaded)", str(path))
    try:
        torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ParameterError(parameter, f"a state_dict file that loads with weights_only=True "
                             f"({type(exc).__name__}: {str(exc)[:200]})", str(path)) from exc
    return file


def inception_extractors(path: str | None, parameter: str) -> tuple[nn.Module, nn.Module]:
    """(FID features 2048, IS logits) InceptionV3 modules built from a local weights file."""
    file = check_inception_weights(path, parameter)
    from torchmetrics.image.fid import NoTrainInceptionV3

    # torch-fidelity loads the file itself; check_inception_weights proved it is weights-only.
    feats = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                               feature_extractor_weights_path=str(file))
    logits = NoTrainInceptionV3(name="inception-v3-compat", features_list=["logits_unbiased"],
                                feature_extractor_weights_path=str(file))
    return InceptionUint8(feats, 2048), InceptionUint8(logits, 1008)


def select_feature_extractor(feature_extractor: str, inception_weights_path: str | None) -> str:
    """Which extractor a configuration uses: inception-v3 or evaluator-cnn.

    `auto` = inception-v3 when a weights file is set (the schema checked that it exists),
    else the evaluator network.
    """
    if feature_extractor == "auto":
        return INCEPTION if inception_weights_path else EVALUATOR
    return feature_extractor


def evaluator_extractors(evaluator: Mapping[str, torch.Tensor] | None, params: ClassifierParams,
                         in_channels: int, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """(FID features, IS logits) of the evaluator network rebuilt from its parameters."""
    if evaluator is None:
        raise ParameterError("evaluation.feature_extractor", "inception-v3 with local weights "
                             "when no evaluator network is given", EVALUATOR)
    model = build_classifier(params, in_channels, num_classes)
    load_state(model, evaluator, "evaluation.evaluator.architecture", "evaluator")
    model.eval()
    stats = params.normalize.stats()
    return EvaluatorFeatures(model, stats), EvaluatorLogits(model, stats)
