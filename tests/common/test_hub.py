"""Finding a pretrained pipeline: a local folder, or a hub id already in the local hub cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genaug.common.hub import local_pipeline_folder
from tests.support import REPO

SRC = REPO / "src"


def test_a_folder_with_model_index_is_taken_as_is(tmp_path):
    """A folder holding model_index.json is the pipeline; one without it is not."""
    (tmp_path / "model_index.json").write_text("{}")
    assert local_pipeline_folder(str(tmp_path)) == tmp_path.resolve()
    assert local_pipeline_folder(str(tmp_path.parent)) is None


def test_a_cached_hub_id_resolves_to_its_snapshot(hub_cache):
    """`org/name` in the hub cache resolves to the snapshot refs/main names."""
    snapshot = hub_cache("org/tiny-sd", revision="a" * 40)
    assert local_pipeline_folder("org/tiny-sd") == snapshot


@pytest.mark.parametrize("source", ["org/not-cached", "not-cached", "/nonexistent/model",
                                    "bad id with spaces", "org/no-index"])
def test_unknown_sources_resolve_to_nothing(hub_cache, source):
    """Uncached ids, missing folders, invalid ids and snapshots without model_index.json."""
    snapshot = hub_cache("org/no-index")
    (snapshot / "model_index.json").unlink()
    assert local_pipeline_folder(source) is None


def test_the_hf_hub_cache_variable_is_what_counts(hub_cache):
    """A fresh process finds the id through HF_HUB_CACHE alone (no network, nothing fetched)."""
    snapshot = hub_cache("org/tiny-sd")
    code = "from genaug.common.hub import local_pipeline_folder as f; print(f('org/tiny-sd'))"
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == str(snapshot)
