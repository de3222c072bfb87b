"""CLIP for the filter: a small closed-set open_clip model, or open_clip pretrained weights.

Closed-set (the embedded default): an `open_clip.model.CLIP` built from a small model config
whose vision tower fits the dataset's images (1-channel images are repeated to 3 channels),
with open_clip's own BPE tokenizer (`SimpleTokenizer`, vocabulary shipped in the package) and a
short context length. Pretrained: `open_clip.create_model(model_name, pretrained=tag_or_file)`
with open_clip's own inference preprocessing (resize, centre crop, normalise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from genaug.common.openclip_weights import PREPROCESS_KEYS, cached_tag_weights, tag_config
from genaug.schemas.filtering import Clip, ClosedSetClip, PretrainedClip


def captions(template: str, class_names: Sequence[str]) -> list[str]:
    """One caption per class from the template's `{class}` placeholder."""
    return [template.replace("{class}", name) for name in class_names]


def closed_set_model_cfg(cfg: ClosedSetClip, image_shape: Sequence[int]) -> dict[str, Any]:
    """The open_clip model config (embed_dim, vision_cfg, text_cfg) for the closed-set CLIP."""
    _, height, width = (int(s) for s in image_shape)
    vision, text = cfg.vision, cfg.text
    return {
        "embed_dim": cfg.embed_dim,
        "vision_cfg": {
            "image_size": [height, width],
            "patch_size": vision.patch_size,
            "width": vision.width,
            "layers": vision.layers,
            "head_width": vision.head_width,
            "mlp_ratio": vision.mlp_ratio,
        },
        "text_cfg": {
            "context_length": text.context_length,
            "vocab_size": open_clip.SimpleTokenizer().vocab_size,
            "width": text.width,
            "heads": text.heads,
            "layers": text.layers,
            "mlp_ratio": text.mlp_ratio,
        },
    }


def build_closed_set_clip(cfg: ClosedSetClip, image_shape: Sequence[int]) -> nn.Module:
    """Build the (untrained) closed-set CLIP from parameters and the dataset's image shape."""
    model_cfg = closed_set_model_cfg(cfg, image_shape)
    return open_clip.model.CLIP(**deepcopy(model_cfg))


def build_pretrained_clip(cfg: PretrainedClip, *, load_weights: bool) -> nn.Module:
    """Create an open_clip model by name; with `load_weights`, load the tag's or file's weights.

    A tag is loaded from its cached file (the schema checked it is cached) with the tag's
    preprocessing and QuickGELU settings, so open_clip never reaches the network.
    `cfg.model_config_path` (key `model_config`, optional) is a local JSON model config (or a
    folder of them) registered with `open_clip.add_model_config` first, so custom
    architectures work offline.
    """
    if cfg.model_config_path:
        path = Path(cfg.model_config_path)
        if not (path.is_file() and path.stem in open_clip.list_models()):
            open_clip.add_model_config(path)
    options: dict[str, Any] = {}
    weights = cfg.pretrained if load_weights else None
    if weights is not None and not Path(weights).expanduser().is_file():
        tag = tag_config(cfg.model_name, weights)
        weights = str(cached_tag_weights(cfg.model_name, weights, cfg.cache_dir))
        options = {"force_quick_gelu": bool(tag.get("quick_gelu", False)),
                   "force_preprocess_cfg": {k: tag[k] for k in PREPROCESS_KEYS if k in tag}}
    return open_clip.create_model(cfg.model_name, pretrained=weights, cache_dir=cfg.cache_dir,
                                  pretrained_text=False, device="cpu", **options)


def build_clip(cfg: Clip, image_shape: Sequence[int], *, load_weights: bool = False
               ) -> nn.Module:
    """Build the CLIP the `filtering.clip` parameters describe (weights random unless loaded)."""
    if cfg.kind == "closed_set":
        return build_closed_set_clip(cfg.closed_set, image_shape)
    return build_pretrained_clip(cfg.pretrained, load_weights=load_weights)


def build_tokenizer(cfg: Clip, model: nn.Module) -> Callable[[list[str]], Any]:
    """open_clip's tokenizer for this CLIP (closed-set: `SimpleTokenizer`, short context)."""
    context_length = int(getattr(model, "context_length", 77))
    if cfg.kind == "closed_set":
        return open_clip.SimpleTokenizer(context_length=context_length)
    return open_clip.get_tokenizer(cfg.pretrained.model_name, context_length=context_length,
                                   cache_dir=cfg.pretrained.cache_dir)


def closed_set_preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×C×H×W -> float N×3×H×W in [-1, 1] (1-channel images repeated to 3)."""
    x = images.float().div(127.5).sub(1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ValueError(f"CLIP needs 1- or 3-channel images; got {x.shape[1]} channels.")
    return x.contiguous()


def pretrained_preprocess(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """open_clip's own inference transform (resize, crop, RGB, normalise) for uint8 tensors."""
    from PIL import Image

    pp_cfg = open_clip.transform.PreprocessCfg(**model.visual.preprocess_cfg)
    transform = open_clip.transform.image_transform_v2(pp_cfg, is_train=False)

    def _apply(images: torch.Tensor) -> torch.Tensor:
        out = []
        for img in images:
            arr = img.permute(1, 2, 0).numpy()
            pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
            out.append(transform(pil))
        return torch.stack(out)

    return _apply


def preprocess_for(cfg: Clip, model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The image preprocessing that matches the CLIP kind."""
    if cfg.kind == "closed_set":
        return closed_set_preprocess
    return pretrained_preprocess(model)


def state_dict_for_saving(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU state_dict of contiguous, unshared tensors (what safetensors can store)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def load_clip(state: Mapping[str, torch.Tensor], cfg: Clip, image_shape: Sequence[int],
              device: torch.device) -> tuple[nn.Module, Callable, Callable]:
    """Rebuild the CLIP from parameters, load a saved state_dict (eval mode) -> model,
    tokenizer, preprocessing."""
    model = build_clip(cfg, image_shape, load_weights=False)
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as err:
        raise ValueError(
            "'clip_model' does not match the CLIP that the 'filtering.clip' parameters and "
            f"the images' shape {tuple(image_shape)} describe: {err}") from err
    model.to(device).eval()
    return model, build_tokenizer(cfg, model), preprocess_for(cfg, model)


@torch.inference_mode()
def encode_texts(model: nn.Module, tokenizer: Callable, texts: list[str],
                 device: torch.device) -> torch.Tensor:
    """L2-normalised text embeddings for a list of captions."""
    tokens = tokenizer(texts).to(device)
    return model.encode_text(tokens, normalize=True).float()


@torch.inference_mode()
def encode_images(model: nn.Module, preprocess: Callable[[torch.Tensor], torch.Tensor],
                  images: torch.Tensor, device: torch.device, batch_size: int,
                  progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """L2-normalised image embeddings of uint8 images, computed in batches (same order)."""
    feats = []
    for start in range(0, images.shape[0], batch_size):
        batch = preprocess(images[start:start + batch_size]).to(device)
        feats.append(model.encode_image(batch, normalize=True).float().cpu())
        if progress is not None:
            progress(batch.shape[0])
    if not feats:
        return torch.zeros(0, 0)
    return torch.cat(feats)
