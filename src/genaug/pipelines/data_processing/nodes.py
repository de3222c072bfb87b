"""Node that turns raw image data into stratified, disjoint, seeded real splits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from genaug.common.bundles import Bundle, BundleError, class_counts, subset, validate_bundle
from genaug.common.seeding import derive_seed
from genaug.common.validation import ParameterError
from genaug.schemas.data_processing import DataProcessingParams

logger = logging.getLogger(__name__)

P = "data_processing"  # prefix of the parameters named in data errors


def make_real_splits(raw_train: Mapping[str, Any], raw_test: Mapping[str, Any],
                     params: DataProcessingParams, seed: int
                     ) -> tuple[Bundle, Bundle, Bundle, list[str]]:
    """Check the raw data and draw the stratified `real_train`, `real_reserve` and `real_test`.

    `real_train` holds `train_per_class` images of each selected class, `real_reserve`
    a disjoint `reserve_per_class` more from the same training split, and `real_test` the
    official test split (or a stratified `test_per_class` subsample of it). Labels are
    remapped to 0..K-1 in the order of `classes`. The same seed gives identical bundles.
    """
    classes, selected = params.selected_classes, params.selected_ids
    n_train, n_reserve, n_test = (params.train_per_class, params.reserve_per_class,
                                  params.test_per_class)
    image_shape, class_names = params.image_shape_tuple(), params.class_names
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
    return real_train, real_reserve, real_test, classes


def make_train_splits(raw_train: Mapping[str, Any], raw_test: Mapping[str, Any],
                      params: DataProcessingParams, seed: int) -> tuple[Bundle, Bundle]:
    """`real_train` and `real_reserve` of one base size; with the same seed, a smaller
    `train_per_class` gives the first images of a larger one's (the sizes are nested)."""
    real_train, real_reserve, _, _ = make_real_splits(raw_train, raw_test, params, seed)
    return real_train, real_reserve


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
