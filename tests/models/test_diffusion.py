"""The closed-set diffusion generator: training lowers the loss, packing round-trips."""

from __future__ import annotations

import json
import shutil

import torch
from safetensors.torch import load_file, save_file

from genaug.common.bundles import to_float
from genaug.models import diffusion as D
from genaug.models import diffusion_pretrained as P
from genaug.models.diffusion_objectives import DDPMObjective
from tests.support import bar_images


def _tiny_unet(num_classes: int = 3) -> D.UNet2DModel:
    torch.manual_seed(0)
    return D.build_unet(num_classes, 1, 16, [8, 16], 1, 4)



def test_tiny_generator_loss_decreases_on_fixed_batch():
    """A few training steps lower the noise-prediction loss on a fixed batch and noise."""
    k = 3
    unet = _tiny_unet(k)
    objective = DDPMObjective(D.build_train_scheduler(100, "squaredcos_cap_v2"))
    images, labels = bar_images(24, k)
    images = to_float(images)
    g = torch.Generator().manual_seed(123)
    noise = torch.randn(images.shape, generator=g)
    t = torch.randint(0, 100, (images.shape[0],), generator=g)

    def eval_loss() -> float:
        with torch.no_grad():
            return float(objective.loss(unet, images, labels, noise, t))

    before = eval_loss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threading overhead dominates on a shared CPU
    try:
        ema, history = D.train_unet(
            unet, objective, images, labels, num_classes=k, steps=25, batch_size=16, lr=3e-3,
            warmup_steps=2, weight_decay=0.0, ema_decay=0.9, label_dropout=0.1, hflip=False,
            generator=torch.Generator().manual_seed(0), device=torch.device("cpu"),
            log_every=20)
    finally:
        torch.set_num_threads(threads)
    after = eval_loss()
    assert len(history) == 25
    assert after < 0.7 * before, (before, after)
    ema.copy_to(unet.parameters())
    assert eval_loss() < before


def test_pack_unpack_round_trip_and_sampling_shape():
    """A packed generator rebuilds bit-identically and samples images of the padded size."""
    unet = _tiny_unet(3)
    state = D.pack_generator(unet, {"kind": "closed_set", "unet_config": dict(unet.config)},
                             [1.0, 0.5])
    rebuilt, meta = D.unpack_unet(state)
    assert meta["kind"] == "closed_set"
    for (ka, va), (kb, vb) in zip(unet.state_dict().items(), rebuilt.state_dict().items(),
                                  strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert D.state_digest(state) == D.state_digest(D.pack_generator(
        rebuilt, {"kind": "closed_set", "unet_config": dict(rebuilt.config)}, [1.0, 0.5]))
    sched = D.build_sampling_scheduler(
        "dpmsolver++", D.build_train_scheduler(100, "squaredcos_cap_v2").config)
    noise = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    x = D.sample_unet(rebuilt, sched, torch.tensor([0, 1, 2, 0]), noise, steps=3,
                      guidance_scale=2.0, null_class=3, device=torch.device("cpu"))
    assert x.shape == (4, 1, 16, 16) and x.min() >= -1 and x.max() <= 1


def test_pad_and_crop_are_inverse():
    """28×28 padded to 32 crops back to the same pixels."""
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    pads = D.pad_amounts(28, 28, 32)
    padded = D.pad_images(x, pads)
    assert padded.shape[-2:] == (32, 32)
    assert torch.equal(D.crop_images(padded, pads), x)


def test_to_dataset_images_grayscale_and_resize():
    """Pipeline RGB outputs become the dataset's 1×H×W uint8 images."""
    out = P.to_dataset_images(torch.rand(3, 3, 64, 64), 1, 28, 28)
    assert out.shape == (3, 1, 28, 28) and out.dtype == torch.uint8
    out3 = P.to_dataset_images(torch.rand(2, 3, 40, 40), 3, 32, 32)
    assert out3.shape == (2, 3, 32, 32)


def test_load_pretrained_pipeline_from_local_folder(tmp_path):
    """A locally saved diffusers pipeline loads offline, with the sampling scheduler swapped."""
    from diffusers import DDPMPipeline

    pipe = DDPMPipeline(unet=D.UNet2DModel(sample_size=8, in_channels=3, out_channels=3,
                                           block_out_channels=(4, 8), norm_num_groups=4,
                                           layers_per_block=1,
                                           down_block_types=("DownBlock2D", "DownBlock2D"),
                                           up_block_types=("UpBlock2D", "UpBlock2D")),
                        scheduler=D.DDPMScheduler(num_train_timesteps=50))
    pipe.save_pretrained(str(tmp_path / "pipe"))
    loaded = P.load_pretrained_pipeline(tmp_path / "pipe", "ddim", torch.device("cpu"))
    assert type(loaded.scheduler).__name__ == "DDIMScheduler"


def test_pretrained_digest_follows_the_config_files(tmp_path):
    """A copy of a pipeline folder keeps its digest; editing one config file changes it."""
    from diffusers import DDPMPipeline

    pipe = DDPMPipeline(unet=_tiny_unet(3), scheduler=D.DDPMScheduler(num_train_timesteps=50))
    pipe.save_pretrained(str(tmp_path / "pipe"))
    digest = P.pretrained_digest(tmp_path / "pipe")
    shutil.copytree(tmp_path / "pipe", tmp_path / "copy")
    assert P.pretrained_digest(tmp_path / "copy") == digest
    config_file = tmp_path / "copy" / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config["num_train_timesteps"] = 60
    config_file.write_text(json.dumps(config))
    assert P.pretrained_digest(tmp_path / "copy") != digest


def test_state_digest_survives_a_file_round_trip_and_sees_one_changed_weight(tmp_path):
    """Same tensors read back from disk: same digest; one weight moved by one ulp: another."""
    unet = _tiny_unet(3)
    state = D.pack_generator(unet, {"kind": "closed_set", "unet_config": dict(unet.config)},
                             [1.0, 0.5])
    save_file(state, str(tmp_path / "generator.safetensors"))
    loaded = load_file(str(tmp_path / "generator.safetensors"))
    assert D.state_digest(loaded) == D.state_digest(state)

    key = next(k for k in loaded if k.startswith(D.UNET_PREFIX) and loaded[k].is_floating_point())
    changed = dict(loaded)
    weights = loaded[key].clone().view(-1)
    weights[0] = torch.nextafter(weights[0], torch.tensor(float("inf")))
    changed[key] = weights.view(loaded[key].shape)
    assert D.state_digest(changed) != D.state_digest(state)
    relabelled = D.pack_generator(unet, {"kind": "closed_set", "unet_config": dict(unet.config),
                                         "class_names": ["x"]}, [1.0, 0.5])
    assert D.state_digest(relabelled) != D.state_digest(state)


def test_stable_config_sorts_use_default_values_without_dropping_them():
    """diffusers' set-ordered `_use_default_values` is sorted (stable digest), not removed."""
    config = {"num_train_timesteps": 100, "_use_default_values": ["variance_type", "clip_sample"]}
    stable = D.stable_config(config)
    assert stable == {"num_train_timesteps": 100,
                      "_use_default_values": ["clip_sample", "variance_type"]}
    assert config["_use_default_values"] == ["variance_type", "clip_sample"]  # input untouched
