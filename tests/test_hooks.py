"""StaleOutputsHook: `--only-missing-outputs` reuses outputs only while their parameters hold."""

from __future__ import annotations

import json


def _versions(project, folder: str) -> int:
    return len(list((project.data / folder).iterdir()))


def test_only_missing_outputs_skips_unchanged_and_reruns_changed(kedro_project) -> None:
    kedro_project.run("data_processing")
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 1
    stored = json.loads(
        (kedro_project.data / "09_tracking/output_fingerprints.json").read_text())
    assert {"real_train", "real_reserve", "real_test", "class_names"} <= set(stored["outputs"])

    kedro_project.run("data_processing", only_missing_outputs=True)
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 1

    kedro_project.run("data_processing", params={"data_processing": {"train_per_class": 5}},
                      only_missing_outputs=True)
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 2
    assert kedro_project.load("real_train")["labels"].numel() == 5 * 4
