"""Bad parameters, table-driven: each fails before any node runs, naming the parameter.

Read the table as the spec: (override given to `kedro run --params`, name in the error).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from genaug.common.validation import ParameterError

CASES: list[tuple[dict[str, Any], str]] = [
    # project-wide
    ({"seed": -1}, "seed"),
    ({"seed": "forty-two"}, "seed"),
    ({"device": "tpu"}, "device"),
    # data_processing
    ({"data_processing": {"train_per_class": 0}}, "data_processing.train_per_class"),
    ({"data_processing": {"train_per_class": "many"}}, "data_processing.train_per_class"),
    ({"data_processing": {"reserve_per_class": -5}}, "data_processing.reserve_per_class"),
    ({"data_processing": {"classes": ["Trouser", "Unicorn"]}}, "data_processing.classes"),
    ({"data_processing": {"image_shape": [2, 28, 28]}}, "data_processing.image_shape"),
    # synthesis
    ({"synthesis": {"generator": {"kind": "gan"}}}, "synthesis.generator.kind"),
    ({"synthesis": {"sampling": {"scheduler": "euler-magic"}}}, "synthesis.sampling.scheduler"),
    ({"synthesis": {"sampling": {"steps": 0}}}, "synthesis.sampling.steps"),
    ({"synthesis": {"pool": {"multiple_of_real": 0}}}, "synthesis.pool.multiple_of_real"),
    ({"synthesis": {"pool": {"per_class": 2.5}}}, "synthesis.pool.per_class"),
    ({"synthesis": {"train": {"lr": "fast"}}}, "synthesis.train.lr"),
    # filtering (shared CLIP) and the per-arm filter
    ({"filtering": {"clip": {"kind": "open"}}}, "filtering.clip.kind"),
    ({"filtering": {"clip": {"caption_template": "a photo"}}}, "filtering.clip.caption_template"),
    ({"drop_30": {"filter": {"drop_fraction": 1.0}}}, "drop_30.filter.drop_fraction"),
    ({"drop_10": {"filter": {"drop_fraction": -0.1}}}, "drop_10.filter.drop_fraction"),
    ({"drop_20": {"filter": {"mode": "sideways"}}}, "drop_20.filter.mode"),
    # training, per arm and defaults
    ({"drop_10": {"training": {"strategy": "magic"}}}, "drop_10.training.strategy"),
    ({"drop_20": {"training": {"synthetic_fraction": 1.5}}}, "drop_20.training.synthetic_fraction"),
    ({"training": {"architecture": "vgg"}}, r"\w+\.training\.architecture"),
    ({"training": {"epochs": 0}}, r"\w+\.training\.epochs"),
    ({"training": {"optimizer": "adam-ish"}}, r"\w+\.training\.optimizer"),
    # evaluation
    ({"evaluation": {"feature_extractor": "clip"}}, r"\w+\.evaluation\.feature_extractor"),
    ({"evaluation": {"fid_reference": "imagenet"}}, r"\w+\.evaluation\.fid_reference"),
]


@pytest.mark.parametrize(("override", "named"), CASES,
                         ids=[re.sub(r"\W+", "-", n) for _, n in CASES])
def test_bad_parameter_fails_before_any_node_runs(kedro_project, override, named) -> None:
    with pytest.raises(ParameterError, match=rf"Parameter '{named}'"):
        kedro_project.run("ablation_threshold", params=override)
    written = [p for p in (kedro_project.root / "data").rglob("*")
               if p.is_file() and "01_raw" not in p.parts]
    assert written == []
