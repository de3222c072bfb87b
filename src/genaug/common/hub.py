"""Where a pretrained diffusers pipeline lies on disk: a local folder or a cached hub id.

Nothing is downloaded: a Hugging Face hub id counts only when its snapshot is already in the
local hub cache (``HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``; ``HF_HOME`` moves
it), as a ``huggingface-cli download`` or an earlier ``from_pretrained`` left it.
"""

from __future__ import annotations

from pathlib import Path

PIPELINE_INDEX = "model_index.json"
# What `synthesis.pretrained.path` accepts, for error messages and the docs.
ACCEPTED_SOURCES = (f"a local diffusers pipeline folder (with {PIPELINE_INDEX}) or a Hugging "
                    f"Face hub id ('org/name') whose snapshot, with {PIPELINE_INDEX}, is already "
                    "in the local hub cache (HF_HUB_CACHE; nothing is downloaded)")


def local_pipeline_folder(source: str) -> Path | None:
    """The folder holding the pipeline `source` names (a folder or a cached hub id), or None."""
    folder = Path(source).expanduser()
    if (folder / PIPELINE_INDEX).is_file():
        return folder.resolve()
    snapshot = _cached_snapshot(source)
    if snapshot is not None and (snapshot / PIPELINE_INDEX).is_file():
        return snapshot
    return None


def _cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of hub model `repo_id` (its `main` ref), or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (HFValidationError, LocalEntryNotFoundError):
        return None
