"""Pretrained (open-set) path with a tiny Stable Diffusion pipeline built and saved locally.

Needs `transformers` (CLIPTextModel, CLIPTokenizer); skipped when it is not installed.
Nothing is downloaded: the tokenizer is built from a vocab/merges file written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genaug.datasets.sharded_bundle import LazyShards, ShardedBundleDataset
from genaug.models import diffusion as D
from genaug.models import diffusion_pretrained as P
from genaug.pipelines.synthesis import nodes as N
from tests.support import SYNTHESIS_CLASSES as NAMES
from tests.support import synthesis_params

transformers = pytest.importorskip("transformers")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-unicode table (the base alphabet of the BPE vocabulary)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _tiny_tokenizer(folder: Path):
    """A CLIPTokenizer over single characters (no merges) written to `folder`."""
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                      model_max_length=16), len(vocab)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    """A tiny StableDiffusionPipeline saved with save_pretrained (16×16 RGB outputs)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    root = tmp_path_factory.mktemp("tiny_sd")
    tokenizer, vocab_size = _tiny_tokenizer(root / "tok")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                        latent_channels=4, norm_num_groups=4, sample_size=16)
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1,
        hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
        vocab_size=vocab_size, max_position_embeddings=16, projection_dim=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    path = root / "pipeline"
    pipe.save_pretrained(str(path))
    return path


def test_pretrained_pipeline_makes_dataset_shaped_pool(tmp_path, tiny_sd):
    """kind=pretrained loads the local pipeline and yields 1×28×28 uint8 images per class."""
    gen = torch.Generator().manual_seed(1)
    real = {"images": torch.randint(0, 256, (8, 1, 28, 28), generator=gen, dtype=torch.uint8),
            "labels": torch.arange(4).repeat_interleave(2)}
    params = synthesis_params(**{"generator.kind": "pretrained", "pretrained.path": str(tiny_sd),
                        "pretrained.guidance_scale": 3.0, "sampling.steps": 2,
                        "sampling.batch_size": 4, "pool.per_class": 1, "pool.shard_size": 4})
    ref = N.train_generator(real, NAMES, params, 7, "cpu")
    meta = D.decode_meta(ref)
    assert meta["kind"] == "pretrained" and Path(meta["path"]) == tiny_sd.resolve()
    ds = ShardedBundleDataset(filepath=str(tmp_path / "pool"))
    shards = N.generate_synthetic_pool(ref, real, NAMES, params, 7, "cpu")
    assert isinstance(shards, LazyShards) and shards.num_shards == 1
    ds.save(shards)
    pool = ds.load()
    assert pool["images"].shape == (4, 1, 28, 28) and pool["images"].dtype == torch.uint8
    assert pool["labels"].tolist() == [0, 1, 2, 3]


class _CountingPipeline:
    """A loaded pipeline that records each call's prompt count, size asked and size made."""

    def __init__(self, pipe) -> None:
        self.pipe, self.calls = pipe, []

    def __getattr__(self, name: str):
        return getattr(self.pipe, name)

    def __call__(self, *, prompt, **kwargs):
        result = self.pipe(prompt=prompt, **kwargs)
        self.calls.append((len(prompt), kwargs.get("height"), kwargs.get("width"),
                           tuple(result.images.shape[-2:])))
        return result


def test_cached_hub_id_in_prompt_batches_at_the_resolution(tmp_path, tiny_sd, hub_cache,
                                                            monkeypatch, caplog):
    """A hub id in the local cache is sampled from its snapshot: dtype auto is float32 on CPU,
    pretrained.batch_size prompts per call at pretrained.resolution, memory estimate logged."""
    snapshot = hub_cache("org/tiny-sd", tiny_sd)
    loaded = []
    load = P.load_pretrained_pipeline

    def counting_load(*args, **kwargs):
        loaded.append(_CountingPipeline(load(*args, **kwargs)))
        return loaded[-1]

    monkeypatch.setattr(P, "load_pretrained_pipeline", counting_load)
    real = {"images": torch.zeros(8, 1, 28, 28, dtype=torch.uint8),
            "labels": torch.arange(4).repeat_interleave(2)}
    params = synthesis_params(**{"generator.kind": "pretrained",
                                 "pretrained.path": "org/tiny-sd", "pretrained.resolution": 24,
                                 "pretrained.batch_size": 3, "sampling.steps": 2,
                                 "pool.per_class": 2, "pool.shard_size": 8})
    assert params.pretrained.dtype == "auto"
    ref = N.train_generator(real, NAMES, params, 7, "cpu")
    meta = D.decode_meta(ref)
    assert (meta["source"], meta["path"], meta["dtype"]) == ("org/tiny-sd", str(snapshot),
                                                             "float32")
    ds = ShardedBundleDataset(filepath=str(tmp_path / "pool"))
    with caplog.at_level("INFO", logger="genaug.models.diffusion_pretrained"):
        ds.save(N.generate_synthetic_pool(ref, real, NAMES, params, 7, "cpu"))
    assert ds.load()["images"].shape == (8, 1, 28, 28)
    (pipe,) = loaded
    assert pipe.calls == [(3, 24, 24, (24, 24)), (3, 24, 24, (24, 24)), (2, 24, 24, (24, 24))]
    assert pipe.pipe.unet.dtype == torch.float32 and pipe.pipe.vae.use_slicing
    assert "peak memory estimate" in caplog.text and "max_memory_allocated" not in caplog.text
