"""Where an open_clip tag's weights are on this machine, found without downloading anything.

open_clip downloads a tag's checkpoint on first use (from the Hugging Face hub or a URL). genaug
never does: a tag is accepted only when its file is already in the local cache, and the model is
then built from that file with the tag's preprocessing and activation settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# The tag settings that describe preprocessing (open_clip's PreprocessCfg fields).
PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")
_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_URL_CACHE = "~/.cache/clip"  # open_clip's default folder for URL downloads


def tag_config(model_name: str, tag: str) -> dict[str, Any]:
    """open_clip's settings for `tag` of `model_name` (empty when open_clip does not know it)."""
    import open_clip

    return dict(open_clip.get_pretrained_cfg(model_name, tag) or {})


def cached_tag_weights(model_name: str, tag: str, cache_dir: str | None) -> Path | None:
    """The local file holding the tag's weights, or None when it is not cached here."""
    from huggingface_hub import try_to_load_from_cache

    cfg = tag_config(model_name, tag)
    if "file" in cfg:
        return Path(cfg["file"]) if Path(cfg["file"]).is_file() else None
    if cfg.get("hf_hub"):
        repo, filename = os.path.split(cfg["hf_hub"])
        names = (filename, f"{Path(filename).stem}.safetensors") if filename else _HF_FILES
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
            if isinstance(found, str):
                return Path(found)
    if cfg.get("url"):
        file = Path(cache_dir or _URL_CACHE).expanduser() / os.path.basename(cfg["url"])
        if file.is_file():
            return file
    return None
