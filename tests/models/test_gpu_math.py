"""GPU math switches: TF32 for a bf16 CUDA run (strict fp32 otherwise, restored after), and
torch.compile of a classifier that leaves its weights' names and its training result intact
(without dropout: compiled dropout draws from another random stream)."""

from __future__ import annotations

import shutil

import pytest
import torch

from genaug.common.precision import cuda_math
from genaug.models.classifier_training import train_evaluator_network
from genaug.schemas.evaluation import EvaluatorParams

CUDA = torch.device("cuda")  # constructing it needs no GPU; the flags are process settings


@pytest.mark.parametrize(("precision", "mode"), [("bf16", "tf32"), ("fp32", "ieee")])
def test_cuda_math_sets_tf32_for_bf16_runs_and_restores_it(precision: str, mode: str) -> None:
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = matmul.fp32_precision, conv.fp32_precision
    with cuda_math(precision, CUDA):
        assert (matmul.fp32_precision, conv.fp32_precision) == (mode, mode)
    assert (matmul.fp32_precision, conv.fp32_precision) == before


def test_cuda_math_changes_nothing_on_the_cpu() -> None:
    before = torch.backends.cuda.matmul.fp32_precision
    with cuda_math("bf16", torch.device("cpu")):
        assert torch.backends.cuda.matmul.fp32_precision == before


def _params(compile_: bool) -> EvaluatorParams:
    return EvaluatorParams(architecture="fast_cnn", fast_cnn={"widths": [4, 8, 8], "dropout": 0.0},
                           epochs=1, batch_size=16, optimizer="sgd", lr=0.01, lr_schedule="cosine",
                           precision="fp32", compile=compile_)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="Inductor on CPU needs a C compiler")
def test_a_compiled_classifier_trains_to_the_same_weights_under_the_same_names() -> None:
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    labels = torch.arange(32) % 4
    eager, compiled = (train_evaluator_network(_params(flag), images, labels, 4, 0,
                                               torch.device("cpu")) for flag in (False, True))
    assert eager.state_dict().keys() == compiled.state_dict().keys()
    for name, value in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[name], value, rtol=1e-4, atol=1e-5)
