"""CIFARDataset: reads tiny CIFAR-10/100 folders in the real format, verified, running no code."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from kedro.io import DataCatalog
from kedro.io.core import DatasetError

from genaug.cli import input_error
from genaug.datasets import CIFARDataset
from tests.support import REPO

from ..cifar_format import py2_pickle

PER_BATCH = 4
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_NAMES = [b"cat", b"dog", b"ship"]
FINE_NAMES, COARSE_NAMES = [b"apple", b"bee", b"oak", b"rose"], [b"fruit", b"insect"]
MARKED = ("data_batch_2", 1, (1, 5, 7))  # file, image, (channel, y, x) of the one pixel at 255


def _pixels(seed: int) -> np.ndarray:
    """PER_BATCH flat images below 250, different in every batch file."""
    return ((np.arange(PER_BATCH * 3072) * 7 + seed) % 250).astype(np.uint8).reshape(-1, 3072)


def _write(folder: Path, files: dict[str, dict[bytes, object]]) -> dict[str, str]:
    """Write each file as a Python 2 pickle; return their SHA-256 sums."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(py2_pickle(content))
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files}


def write_cifar10(root: Path) -> dict[str, str]:
    """A tiny cifar-10-batches-py/ (3 classes, PER_BATCH images per file) with one marked pixel."""
    files: dict[str, dict[bytes, object]] = {}
    for seed, name in enumerate([*CIFAR10_TRAIN, "test_batch"]):
        data = _pixels(seed)
        if name == MARKED[0]:
            channel, y, x = MARKED[2]
            data[MARKED[1], channel * 1024 + y * 32 + x] = 255
        files[name] = {b"batch_label": f"batch {name}".encode(), b"data": data,
                       b"labels": [(seed + k) % 3 for k in range(PER_BATCH)],
                       b"filenames": [f"{name}_{k}.png".encode() for k in range(PER_BATCH)]}
    files["batches.meta"] = {b"num_cases_per_batch": PER_BATCH,
                             b"label_names": CIFAR10_NAMES, b"num_vis": 3072}
    return _write(root / "cifar-10-batches-py", files)


def write_cifar100(root: Path) -> dict[str, str]:
    """A tiny cifar-100-python/ with 4 fine classes in 2 coarse ones."""
    files: dict[str, dict[bytes, object]] = {}
    for seed, name in enumerate(("train", "test")):
        fine = [(seed + k) % 4 for k in range(PER_BATCH)]
        files[name] = {b"batch_label": name.encode(), b"data": _pixels(seed),
                       b"fine_labels": fine, b"coarse_labels": [f // 2 for f in fine],
                       b"filenames": [f"{name}_{k}.png".encode() for k in range(PER_BATCH)]}
    files["meta"] = {b"fine_label_names": FINE_NAMES, b"coarse_label_names": COARSE_NAMES}
    return _write(root / "cifar-100-python", files)


@pytest.fixture
def cifar10(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return tmp_path, write_cifar10(tmp_path)


def test_cifar10_loads_images_labels_and_class_names(cifar10: tuple[Path, dict]) -> None:
    root, sums = cifar10
    data = CIFARDataset(name="CIFAR10", root=str(root), checksums=sums).load()
    assert data["images"].shape == (5 * PER_BATCH, 3, 32, 32)
    assert data["images"].dtype == torch.uint8 and data["labels"].dtype == torch.int64
    assert data["labels"].tolist() == [(s + k) % 3 for s in range(5) for k in range(PER_BATCH)]
    assert data["class_names"] == ["cat", "dog", "ship"]
    assert "cifar-10-batches-py (train)" in data["source"]
    # Rows are the red, green and blue planes, each row-major: the marked value lands at (c, y, x).
    image = CIFAR10_TRAIN.index(MARKED[0]) * PER_BATCH + MARKED[1]
    assert (data["images"] == 255).nonzero().tolist() == [[image, *MARKED[2]]]
    assert torch.equal(data["images"][0].flatten(), torch.from_numpy(_pixels(0)[0]))
    test = CIFARDataset(name="CIFAR10", root=str(root), split="test", checksums=sums).load()
    assert test["images"].shape == (PER_BATCH, 3, 32, 32)
    assert test["labels"].tolist() == [(5 + k) % 3 for k in range(PER_BATCH)]


def test_loads_what_plain_pickle_reads(cifar10: tuple[Path, dict]) -> None:
    root, sums = cifar10
    raw = (root / "cifar-10-batches-py" / "test_batch").read_bytes()
    plain = pickle.loads(raw, encoding="bytes")  # our own file: the control for the format
    data = CIFARDataset(name="CIFAR10", root=str(root), split="test", checksums=sums).load()
    assert np.array_equal(data["images"].reshape(PER_BATCH, -1).numpy(), plain[b"data"])


def test_official_checksums_reject_the_tiny_folder(cifar10: tuple[Path, dict]) -> None:
    root, sums = cifar10
    with pytest.raises(DatasetError, match=(
            r"batches\.meta' is corrupt or not the expected file: its MD5 is [0-9a-f]{32}, "
            r"expected 5ff9c542aee3614f3951f8cda6e48888")):
        CIFARDataset(name="CIFAR10", root=str(root)).load()
    # Files missing from `checksums` keep their official MD5.
    partial = {k: v for k, v in sums.items() if k != "data_batch_3"}
    with pytest.raises(DatasetError, match=r"data_batch_3' .*MD5 .*expected 54ebc095f3ab1f03"):
        CIFARDataset(name="CIFAR10", root=str(root), checksums=partial).load()


def test_wrong_sha256_names_file_expected_and_got(cifar10: tuple[Path, dict]) -> None:
    root, sums = cifar10
    wrong = {**sums, "test_batch": "0" * 64}
    with pytest.raises(DatasetError, match=rf"test_batch' .*SHA-256 is {sums['test_batch']}, "
                                           rf"expected {'0' * 64}\."):
        CIFARDataset(name="CIFAR10", root=str(root), split="test", checksums=wrong).load()


@pytest.mark.parametrize(("checksums", "message"), [
    ({"data_batch_6": "0" * 64}, r"unknown file\(s\) \['data_batch_6'\]"),
    ({"data_batch_1": "c99cafc152244af753f735de768cd75f"}, r"\['data_batch_1'\] must be 64 hex"),
])
def test_bad_checksums_are_refused_up_front(checksums: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        CIFARDataset(name="CIFAR10", root="anywhere", checksums=checksums)


class _Touch:
    """Unpickled by plain pickle, this creates `marker` (the harmless stand-in for an attack)."""

    def __init__(self, marker: Path, via_shell: bool) -> None:
        self.marker, self.via_shell = marker, via_shell

    def __reduce__(self) -> tuple:
        if self.via_shell:
            return os.system, (f"touch '{self.marker}'",)
        return open, (str(self.marker), "w")


@pytest.mark.parametrize(("via_shell", "callable_name"), [(True, "system"), (False, "io.open")])
def test_crafted_pickle_is_refused_without_side_effect(
        cifar10: tuple[Path, dict], via_shell: bool, callable_name: str) -> None:
    root, sums = cifar10
    marker = root / "pwned"
    crafted = pickle.dumps({b"batch_label": _Touch(marker, via_shell), b"data": b""}, protocol=3)
    path = root / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(crafted)
    sums = {**sums, "data_batch_3": hashlib.sha256(crafted).hexdigest()}
    with pytest.raises(DatasetError, match=rf"data_batch_3' is refused: it would build "
                                           rf"'[\w.]*{callable_name}'") as caught:
        CIFARDataset(name="CIFAR10", root=str(root), checksums=sums).load()
    assert "crafted pickle runs code" in str(caught.value)
    assert not marker.exists()
    pickle.loads(crafted)  # the control: plain pickle would have run it
    assert marker.exists()


def test_missing_file_is_named_and_exists_is_per_split(cifar10: tuple[Path, dict]) -> None:
    root, sums = cifar10
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    train = CIFARDataset(name="CIFAR10", root=str(root), checksums=sums)
    assert not train.exists()
    with pytest.raises(DatasetError, match=r"Raw file '\S*cifar-10-batches-py/data_batch_4' is "
                                           r"missing: unpack the official CIFAR10 python archive"):
        train.load()
    assert CIFARDataset(name="CIFAR10", root=str(root), split="test").exists()
    assert not CIFARDataset(name="CIFAR10", root=str(root / "elsewhere"), split="test").exists()


@pytest.mark.parametrize(("content", "message"), [
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"uint8 array of N×3072"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"2 integer labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 3]}, r"ids 0\.\.3, but .* 3 classes"),
    ([b"not", b"a", b"dict"], r"holds a list, expected a dict"),
])
def test_malformed_batch_is_named(cifar10: tuple[Path, dict], content: object,
                                  message: str) -> None:
    root, sums = cifar10
    sums = {**sums, **_write(root / "cifar-10-batches-py", {"test_batch": content})}
    with pytest.raises(DatasetError, match=rf"test_batch'.*{message}"):
        CIFARDataset(name="CIFAR10", root=str(root), split="test", checksums=sums).load()


def test_cifar100_fine_and_coarse_labels(tmp_path: Path) -> None:
    sums = write_cifar100(tmp_path)
    fine = CIFARDataset(name="CIFAR100", root=str(tmp_path), checksums=sums).load()
    coarse = CIFARDataset(name="CIFAR100", root=str(tmp_path), label="coarse",
                          checksums=sums).load()
    assert fine["class_names"] == ["apple", "bee", "oak", "rose"]
    assert coarse["class_names"] == ["fruit", "insect"]
    assert fine["labels"].tolist() == [0, 1, 2, 3]
    assert coarse["labels"].tolist() == [0, 0, 1, 1]
    assert torch.equal(fine["images"], coarse["images"]) and fine["images"].shape[0] == PER_BATCH
    test = CIFARDataset(name="CIFAR100", root=str(tmp_path), split="test", checksums=sums)
    assert test.load()["labels"].tolist() == [1, 2, 3, 0]
    with pytest.raises(DatasetError, match="label must be one of \\['fine'\\] for CIFAR10"):
        CIFARDataset(name="CIFAR10", root=str(tmp_path), label="coarse")


def test_read_only_and_described() -> None:
    dataset = CIFARDataset(name="CIFAR100", root="data/01_raw", split="test", label="coarse")
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({})  # type: ignore[arg-type]
    assert "split='test'" in str(dataset) and "official MD5" in str(dataset)


def test_official_sums_match_torchvisions() -> None:
    torchvision = pytest.importorskip("torchvision")
    from genaug.datasets.cifar import _LAYOUTS

    for name, layout in _LAYOUTS.items():
        cls = getattr(torchvision.datasets, name)
        published = dict(cls.train_list + cls.test_list)
        published[cls.meta["filename"]] = cls.meta["md5"]
        assert layout.md5 == published and layout.folder == cls.base_folder



def test_cli_prints_a_cifar_error_as_one_message_and_hint(cifar10: tuple[Path, dict]) -> None:
    root, _ = cifar10
    with pytest.raises(DatasetError) as caught:
        CIFARDataset(name="CIFAR10", root=str(root)).load()
    message, hint = input_error(caught.value)
    assert message.startswith("Raw file '") and "batches.meta" in message
    assert "raw_train" in hint


def test_the_documented_catalog_entries_build(cifar10: tuple[Path, dict]) -> None:
    docs = (REPO / "docs" / "configuration.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)
    (block,) = [b for b in blocks if "genaug.datasets.CIFARDataset" in b]
    config = yaml.safe_load(textwrap.dedent(block))
    root, sums = cifar10
    for entry in config.values():
        entry.update(root=str(root), checksums=sums)
    catalog = DataCatalog.from_config(config)
    assert catalog["raw_test"].load()["images"].shape == (PER_BATCH, 3, 32, 32)
    assert catalog["raw_train"].exists()
