"""Precision: `auto` follows the hardware, and bf16 autocast trains as well as fp32."""

from __future__ import annotations

import pytest
import torch

from genaug.common import precision as P
from genaug.models.classifier_training import accuracy_per_seed
from genaug.models.classifiers import unpack_states
from genaug.pipelines.training.nodes import train_classifier
from tests.support import names, patterns, training_params

CPU = torch.device("cpu")
# Tolerance of the bf16-vs-fp32 check (conf/test sizes, 4 separable classes, one seed): Top-1
# within 5 pp and the last epoch's training loss within 15 % of each other.
TOP1_PP, LOSS_REL = 5.0, 0.15


def test_auto_picks_bf16_only_where_the_hardware_runs_it(monkeypatch) -> None:
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: True)
    assert P.resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: False)
    assert P.resolve_precision("auto", CPU) == "fp32"
    assert P.resolve_precision("bf16", CPU) == "bf16"  # an explicit choice is kept
    assert P.resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        P.resolve_precision("fp16", CPU)


def test_bf16_autocast_and_fp32_train_to_the_same_accuracy() -> None:
    train, test = patterns(24, 4, seed=1), patterns(40, 4, seed=2)
    results = {}
    for name in ("fp32", "bf16"):
        params = training_params({"strategy": "real_only", "seeds": [0], "epochs": 6,
                                  "precision": name, "channels_last": name == "bf16"})
        packed, history = train_classifier(train, names(), None, params, 5, "cpu")
        top1, _, _ = accuracy_per_seed(params, unpack_states(packed), test, 4, CPU, 64)
        phase = history["runs"]["0"]["phases"][0]
        assert phase["precision"] == name
        results[name] = (100 * top1[0], phase["loss"][-1])
    (fp32_top1, fp32_loss), (bf16_top1, bf16_loss) = results["fp32"], results["bf16"]
    assert fp32_top1 > 80.0  # both learn the task, not just agree
    assert abs(bf16_top1 - fp32_top1) <= TOP1_PP
    assert abs(bf16_loss - fp32_loss) <= LOSS_REL * fp32_loss
