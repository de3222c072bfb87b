"""Nodes that turn raw image data into stratified, disjoint, seeded real splits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from genaug.common.bundles import Bundle, BundleError, class_counts, subset, validate_bundle
from genaug.common.seeding import derive_seed
from genaug.common.validation import ParameterError, check_int, require

logger = logging.getLogger(__name__)

P = "data_processing"


def make_real_splits(raw_train: Mapping[str, Any], raw_test: Mapping[str, Any],
                     params: Mapping[str, Any], seed: int
                     ) -> tuple[Bundle, Bundle, Bundle, list[str]]:
    """Validate raw data and draw the stratified `real_train`, `real_reserve` and `real_test`.

    `real_train` holds `train_per_class` images of each selected class, `real_reserve`
    a disjoint `reserve_per_class` more from the same training split, and `real_test` the
    official test split (or a stratified `test_per_class` subsample of it). Labels are
    remapped to 0..K-1 in the order of `classes`. The same seed gives identical bundles.
    """
    seed = check_int(seed, "seed", minimum=0)
    cfg = check_data_processing_params(params)
    class_names, classes, selected = cfg["class_names"], cfg["classes"], cfg["selected"]
    image_shape = cfg["image_shape"]
    n_train, n_reserve, n_test = cfg["train_per_class"], cfg["reserve_per_class"], \
        cfg["test_per_class"]

    train = _check_raw(raw_train, "raw_train", image_shape, class_names)
    test = _check_raw(raw_test, "raw_test", image_shape, class_names)

    generator = torch.Generator().manual_seed(derive_seed(seed, "data_processing"))
    train_idx, reserve_idx, test_idx = [], [], []
    for name, label in zip(classes, selected, strict=True):
        pool = _shuffled_class_index(train["labels"], label, generator)
        if pool.numel() < n_train + n_reserve:
            raise ParameterError(
                f"{P}.train_per_class + {P}.reserve_per_class",
                f"at most {pool.numel()} (images of class '{name}' in raw_train)",
                n_train + n_reserve,
            )
        train_idx.append(pool[:n_train])
        reserve_idx.append(pool[n_train:n_train + n_reserve])
        pool = _shuffled_class_index(test["labels"], label, generator)
        if n_test is not None and pool.numel() < n_test:
            raise ParameterError(f"{P}.test_per_class",
                                 f"at most {pool.numel()} (images of class '{name}' in raw_test)",
                                 n_test)
        test_idx.append(pool if n_test is None else pool[:n_test])

    remap = torch.full((len(class_names),), -1, dtype=torch.int64)
    remap[torch.tensor(selected)] = torch.arange(len(selected))
    splits = []
    for bundle, parts in ((train, train_idx), (train, reserve_idx), (test, test_idx)):
        index = torch.sort(torch.cat(parts)).values
        part = subset(bundle, index)
        part["labels"] = remap[part["labels"]]
        splits.append(part)
    real_train, real_reserve, real_test = splits
    for split_name, part in zip(("real_train", "real_reserve", "real_test"), splits, strict=True):
        logger.info("%s: %d images, per class %s", split_name, part["labels"].numel(),
                    class_counts(part["labels"], len(classes)))
    return real_train, real_reserve, real_test, list(classes)


def check_data_processing_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the `data_processing` parameters that do not depend on the data."""
    class_names = _check_class_names(require(params, "class_names", P))
    classes = params.get("classes") or list(class_names)
    selected = _check_selection(classes, class_names)
    n_test = params.get("test_per_class")
    return {
        "class_names": class_names,
        "classes": list(classes),
        "selected": selected,
        "image_shape": _check_shape(require(params, "image_shape", P)),
        "train_per_class": check_int(require(params, "train_per_class", P),
                                     f"{P}.train_per_class", minimum=1),
        "reserve_per_class": check_int(require(params, "reserve_per_class", P),
                                       f"{P}.reserve_per_class", minimum=0),
        "test_per_class": None if n_test is None else check_int(
            n_test, f"{P}.test_per_class", minimum=1),
    }


def _check_class_names(value: Any) -> list[str]:
    """Check the list of raw class names (unique strings, at least two)."""
    if (not isinstance(value, list) or len(value) < 2
            or not all(isinstance(v, str) and v for v in value) or len(set(value)) != len(value)):
        raise ParameterError(f"{P}.class_names", "a list of at least two unique class names",
                             value)
    return value


def _check_selection(classes: Any, class_names: list[str]) -> list[int]:
    """Map the selected class names to raw label ids, rejecting unknown or repeated names."""
    if not isinstance(classes, list) or len(classes) < 2 or len(set(classes)) != len(classes):
        raise ParameterError(f"{P}.classes", "null or a list of at least two unique class names",
                             classes)
    unknown = [c for c in classes if c not in class_names]
    if unknown:
        raise ParameterError(f"{P}.classes", f"names from {P}.class_names {class_names}",
                             unknown)
    return [class_names.index(c) for c in classes]


def _check_shape(value: Any) -> tuple[int, int, int]:
    """Check the expected C×H×W image shape."""
    if (not isinstance(value, list | tuple) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            or value[0] not in (1, 3)):
        raise ParameterError(f"{P}.image_shape", "[channels (1 or 3), height, width]", value)
    return tuple(value)


def _check_raw(raw: Mapping[str, Any], name: str, image_shape: tuple[int, int, int],
               class_names: list[str]) -> Bundle:
    """Check a raw bundle's shape and labels against the parameters, naming its source."""
    source = raw.get("source", name) if isinstance(raw, Mapping) else name
    try:
        bundle = validate_bundle(raw, name)
    except BundleError as exc:
        raise BundleError(f"{exc} (source: {source})") from exc
    if tuple(bundle["images"].shape[1:]) != image_shape:
        raise ParameterError(
            f"{P}.image_shape",
            f"the shape of the images in {name} ('{source}'), "
            f"which is {list(bundle['images'].shape[1:])}",
            list(image_shape),
        )
    folder_names = raw.get("class_names")
    if folder_names is not None and list(folder_names) != class_names:
        raise ParameterError(f"{P}.class_names",
                             f"the class folders of {name} ('{source}'): {list(folder_names)}",
                             class_names)
    labels = bundle["labels"]
    if int(labels.min()) < 0 or int(labels.max()) >= len(class_names):
        raise ParameterError(
            f"{P}.class_names",
            f"one name per label id of {name} ('{source}'), which uses ids "
            f"{int(labels.min())}..{int(labels.max())}",
            class_names,
        )
    return bundle


def _shuffled_class_index(labels: torch.Tensor, label: int,
                          generator: torch.Generator) -> torch.Tensor:
    """Indices of one class in a seeded random order."""
    index = torch.nonzero(labels == label, as_tuple=False).flatten()
    return index[torch.randperm(index.numel(), generator=generator)]
