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
from tests.support import REPO

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


def _test_params() -> dict:
    """conf/test's validated parameter tree."""
    from genaug.config import ValidatingConfigLoader
    from genaug.settings import CONFIG_LOADER_ARGS

    conf = REPO / "conf"
    return ValidatingConfigLoader(str(conf), env="test", **CONFIG_LOADER_ARGS)["parameters"]


def _with(block, **changes):
    """A copy of a typed parameter block with top-level keys changed."""
    return type(block).model_validate({**block.to_dict(), **changes})


def _real(n: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    return images, torch.arange(n) % 4


def test_the_closed_set_clip_trains_under_bf16_and_records_it() -> None:
    from genaug.models.clip_training import train_closed_set_clip

    clip = _test_params()["filtering"].clip
    train = _with(clip.closed_set.train, precision="bf16", epochs=1)
    clip = _with(clip, closed_set=_with(clip.closed_set, train=train))
    images, labels = _real()
    _, log = train_closed_set_clip(images, labels, ["a", "b", "c", "d"], clip, 0,
                                   torch.device("cpu"))
    assert log["precision"] == "bf16"
    assert all(torch.isfinite(torch.tensor(log["epoch_loss"])))


def test_a_channels_last_generator_trains_like_a_contiguous_one_and_packs() -> None:
    from genaug.models.diffusion import unpack_unet
    from genaug.models.diffusion_training import train_closed_set

    synthesis = _test_params()["synthesis"]
    images, labels = _real()
    packed = {flag: train_closed_set(images, labels, ["a", "b", "c", "d"],
                                     _with(synthesis, channels_last=flag, precision="fp32"), 0,
                                     torch.device("cpu")) for flag in (False, True)}
    assert packed[False].keys() == packed[True].keys()
    for name, value in packed[False].items():  # other conv kernels: rounding, through AdamW
        torch.testing.assert_close(packed[True][name], value, rtol=1e-3, atol=1e-4)
    unet, _ = unpack_unet(packed[True])
    assert all(p.is_contiguous() for p in unet.parameters())
