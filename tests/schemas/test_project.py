"""The whole configuration (genaug.schemas.project): every shipped environment validates; bad
parameters, table-driven, each fail before any node runs, naming the parameter.

Read the table as the spec: (override given to `kedro run --params`, name in the error, and
for unknown keys the suggestion). A stage default that every arm overrides is still checked
(the error names the default's own key).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.project import ARM_STAGES, validate_parameters
from tests.support import raw_parameters


@pytest.mark.parametrize("env", ["base", "test", "gpu"])
def test_environment_parameters_validate(env: str) -> None:
    validated = validate_parameters(raw_parameters(env))
    arm_blocks = validated.arm_blocks()
    declaration = validated.declaration
    assert declaration is not None
    assert {f"params:{arm}.{stage}" for arm in declaration.all_arms
            for stage in ARM_STAGES} <= set(arm_blocks)
    assert arm_blocks["params:drop_30.filter"].drop_fraction == 0.3
    assert arm_blocks["params:sequential.training"].strategy == "sequential"
    curve = [arm_blocks[f"params:{arm}.training"].extra_real_per_class
             for arm in declaration.curve]
    reserve = validated.blocks["params:data_processing"].reserve_per_class
    assert curve == sorted(set(curve)) and curve[-1] <= reserve  # increasing, within the reserve


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
    # neither a pipeline folder nor a hub id in the local cache (nothing is downloaded)
    ({"synthesis": {"generator": {"kind": "pretrained"},
                    "pretrained": {"path": "genaug-tests/not-cached"}}},
     "synthesis.pretrained.path"),
    # filtering (shared CLIP) and the per-arm filter
    ({"filtering": {"clip": {"kind": "open"}}}, "filtering.clip.kind"),
    ({"filtering": {"clip": {"caption_template": "a photo"}}}, "filtering.clip.caption_template"),
    ({"drop_30": {"filter": {"drop_fraction": 1.0}}}, "drop_30.filter.drop_fraction"),
    ({"drop_10": {"filter": {"drop_fraction": -0.1}}}, "drop_10.filter.drop_fraction"),
    ({"drop_20": {"filter": {"mode": "sideways"}}}, "drop_20.filter.mode"),
    # training, per arm and defaults
    ({"drop_10": {"training": {"strategy": "magic"}}}, "drop_10.training.strategy"),
    ({"drop_20": {"training": {"synthetic_fraction": 1.5}}}, "drop_20.training.synthetic_fraction"),
    ({"training": {"architecture": "vgg"}}, r"(\w+\.)?training\.architecture"),
    ({"training": {"epochs": 0}}, r"(\w+\.)?training\.epochs"),
    ({"training": {"optimizer": "adam-ish"}}, r"(\w+\.)?training\.optimizer"),
    # a default that every arm overrides is still validated
    ({"training": {"strategy": "mixed"}}, "training.strategy"),
    ({"filter": {"drop_fraction": 2.0}}, "filter.drop_fraction"),
    # the real-augmentation curve: increasing, within the reserve, only on the curve arms
    ({"real_curve_2": {"training": {"extra_real_per_class": 1}}},
     r"real_curve_2\.training\.extra_real_per_class"),
    ({"real_curve_5": {"training": {"extra_real_per_class": 9}}},
     r"data_processing\.reserve_per_class"),
    ({"drop_10": {"training": {"extra_real_per_class": 3}}},
     r"drop_10\.training\.extra_real_per_class"),
    ({"real_curve_1": {"training": {"strategy": "joint"}}}, r"real_curve_1\.training\.strategy"),
    # reports name arms of their own ablation
    ({"reporting": {"threshold": {"comparisons": [["drop_10", "sequential"]]}}},
     r"reporting\.threshold\.comparisons"),
    ({"reporting": {"training": {"confidence": 95}}}, r"reporting\.training\.confidence"),
    # evaluation
    ({"evaluation": {"feature_extractor": "clip"}}, r"(\w+\.)?evaluation\.feature_extractor"),
    ({"evaluation": {"fid_reference": "imagenet"}}, r"(\w+\.)?evaluation\.fid_reference"),
    # unknown and misspelt keys, at every depth, with the closest valid key suggested
    ({"training": {"epochz": 5}}, r"training\.epochz': unknown key \(did you mean `epochs`\?\)"),
    ({"synthesis": {"guidance": 3}}, r"synthesis\.guidance': unknown key"),
    ({"synthesis": {"sampling": {"guidance_scal": 3}}},
     r"synthesis\.sampling\.guidance_scal': unknown key \(did you mean `guidance_scale`\?\)"),
    ({"drop_20": {"filter": {"drop_fractoin": 0.5}}},
     r"drop_20\.filter\.drop_fractoin': unknown key \(did you mean `drop_fraction`\?\)"),
    ({"drop_20": {"filtr": {"drop_fraction": 0.5}}},
     r"drop_20\.filtr': unknown key \(did you mean `filter`\?\)"),
    ({"drop_40": {"filter": {"drop_fraction": 0.4}}}, r"drop_40': unknown key \(did you mean"),
    ({"traning": {"epochs": 5}}, r"traning': unknown key \(did you mean `training`\?\)"),
    # checks that depend on the data's shape run before data_processing writes anything
    ({"filtering": {"clip": {"closed_set": {"vision": {"patch_size": 5}}}}},
     "filtering.clip.closed_set.vision.patch_size"),
    ({"data_processing": {"image_shape": [1, 30, 30]},
      "filtering": {"clip": {"closed_set": {"vision": {"patch_size": 4}}}}},
     r"(data_processing\.image_shape|filtering\.clip\.closed_set\.vision\.patch_size)"),
]


@pytest.mark.parametrize(("override", "named"), CASES,
                         ids=[re.sub(r"\W+", "-", n) for _, n in CASES])
def test_bad_parameter_fails_before_any_node_runs(kedro_project, override, named) -> None:
    with pytest.raises(ParameterError, match=rf"Parameter '{named}"):
        kedro_project.run("ablation_threshold", params=override)
    written = [p for p in (kedro_project.root / "data").rglob("*")
               if p.is_file() and "01_raw" not in p.parts]
    assert written == []


def test_a_single_stage_run_checks_parameters_before_writing(kedro_project) -> None:
    with pytest.raises(ParameterError, match="data_processing.classes"):
        kedro_project.run("data_processing",
                          params={"data_processing": {"classes": ["Trouser", "Unicorn"]}})
    assert not (kedro_project.data / "03_primary").exists()
