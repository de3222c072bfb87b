"""`--only-missing-outputs` reruns exactly what a change touched (conf/test, real pipelines)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import genaug.fingerprints as fingerprints
from genaug.hooks import FINGERPRINTS, StaleOutputsHook
from genaug.pipelines.ablations import create_pipelines
from genaug.pipelines.synthesis.pipeline import POOL_PARTS
from genaug.pipelines.training.pipeline import SEED_SLOTS
from genaug.reruns import FingerprintStore
from tests.support import KedroProject, declared, ran_project

REAL_CURVE_ARMS = declared().curve

ARMS = ("drop_10", "drop_20", "drop_30")
TRAIN = (*(f"train_classifier_seeds_{slot}" for slot in range(SEED_SLOTS)), "combine_seeds")
ARM_NODES = {f"{arm}.{name}" for arm in ARMS
             for name in ("filter_pool", "plot_filter_grid", *TRAIN, "evaluate_classifier")
             } | {f"baseline.{name}" for name in (*TRAIN, "evaluate_classifier")}
# The real-augmentation curve (part of both ablations): it reads real images only.
CURVE_NODES = {f"{arm}.{name}" for arm in REAL_CURVE_ARMS
               for name in ("draw_extra_real", *TRAIN, "evaluate_classifier")}
REPORT = {f"reporting.threshold_{name}"
          for name in ("results_table", "results_markdown", "summary", "plot", "exchange_plot")}
GENERATOR_REPORT = {"generator_report.generator_report", "generator_report.threshold_kept_fidelity"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One full `ablation_threshold` run on conf/test, shared by the module's reruns."""
    with ran_project(tmp_path_factory, "reruns", "ablation_threshold") as project:
        yield project


def _rerun(project: KedroProject, caplog: pytest.LogCaptureFixture,
           params: dict | None = None) -> set[str]:
    """Rerun with --only-missing-outputs; the names of the nodes that ran."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        project.run("ablation_threshold", params=params, only_missing_outputs=True)
    return {m.group(1) for r in caplog.records
            if (m := re.match(r"Completed node: (\S+)", r.getMessage()))}


def test_unchanged_rerun_runs_nothing(project: KedroProject, caplog) -> None:
    assert _rerun(project, caplog) == set()


def test_checkpoint_intervals_rerun_nothing(project: KedroProject, caplog) -> None:
    """A resumed training ends with the same weights: checkpoint_every is no reason to rerun."""
    assert _rerun(project, caplog, {
        "synthesis": {"train": {"checkpoint_every": 5}},
        "filtering": {"clip": {"closed_set": {"train": {"checkpoint_every": None}}}}}) == set()


def _trained_and_reused(project: KedroProject, arm: str) -> tuple[set[int], set[int]]:
    """Seeds an arm's latest training history trained, and seeds it took from the store."""
    runs = project.load(f"{arm}.training_history")["runs"]
    reused = {int(s) for s, run in runs.items() if run.get("reused")}
    return {int(s) for s in runs} - reused, reused


def test_raising_the_seed_count_trains_exactly_the_new_seeds(project: KedroProject,
                                                             caplog) -> None:
    arms = ("baseline", *ARMS, *REAL_CURVE_ARMS)
    ran = _rerun(project, caplog, {"training": {"seeds": 3}})  # conf/test trains seed 0
    training = {n for n in ran if n.split(".")[-1] in TRAIN}
    assert training == {f"{arm}.{name}" for arm in arms for name in TRAIN}
    assert not {n for n in ran if n.startswith(("synthesis.", "filtering.", "evaluation."))}
    for arm in arms:
        assert _trained_and_reused(project, arm) == ({1, 2}, {0}), arm
        assert project.load(f"{arm}.metrics")["seeds"] == [0, 1, 2]
    plan = "\n".join(r.getMessage() for r in caplog.records)
    assert "new seeds [1, 2]; seeds already trained with the same settings are reused" in plan
    # Back to one seed: seed 0 comes from the store, nothing is trained.
    _rerun(project, caplog, {"training": {"seeds": 1}})
    assert all(_trained_and_reused(project, arm) == (set(), {0}) for arm in arms)


def test_a_plain_run_reads_the_seed_stores_as_empty(project: KedroProject) -> None:
    catalog = project.catalog()
    assert len(catalog.load("drop_10.seed_store")) >= 3  # seeds 0, 1, 2 were stored
    hook = StaleOutputsHook()
    hook._store = FingerprintStore(project.data / FINGERPRINTS)  # as after_context_created
    hook.before_pipeline_run({"only_missing_outputs": False},
                             create_pipelines(declared())["ablation_threshold"], catalog)
    assert len(catalog.load("drop_10.seed_store")) == 0  # every seed trains again
    assert len(project.catalog().load("drop_10.seed_store")) >= 3  # nothing was deleted


def test_guidance_scale_reruns_pool_scores_arms_and_report_not_the_generator(
        project: KedroProject, caplog) -> None:
    ran = _rerun(project, caplog, {"synthesis": {"sampling": {"guidance_scale": 3.5}}})
    pool = {f"synthesis.generate_pool_part_{i}" for i in range(POOL_PARTS)}
    assert ran == pool | {"synthesis.generate_synthetic_pool", "synthesis.plot_generator_samples",
                          "filtering.score_pool"} | ARM_NODES | REPORT | GENERATOR_REPORT
    plan = "\n".join(r.getMessage() for r in caplog.records)
    assert "parameter synthesis.sampling.guidance_scale" in plan
    assert re.search(r"reuse generator \(version \S+\)", plan)


def test_report_cap_reruns_only_the_clip_report(project: KedroProject, caplog) -> None:
    ran = _rerun(project, caplog, {"synthesis": {"sampling": {"guidance_scale": 3.5}},
                                   "filtering": {"report_max_per_class": 3}})
    assert ran == {"filtering.evaluate_clip"}


def test_inference_batch_size_reruns_nothing(project: KedroProject, caplog) -> None:
    ran = _rerun(project, caplog, {"synthesis": {"sampling": {"guidance_scale": 3.5}},
                                   "filtering": {"report_max_per_class": 3,
                                                 "score_batch_size": 7}})
    assert ran == set()


def test_classifier_engine_edit_reruns_every_classifier_and_what_follows(
        project: KedroProject, caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    original = fingerprints._file_digest

    def edited(module: str) -> str:  # as if models/classifier_training.py had been edited
        digest = original(module)
        return "edited-" + digest if module == "genaug.models.classifier_training" else digest

    monkeypatch.setattr(fingerprints, "_file_digest", edited)
    ran = _rerun(project, caplog, {"synthesis": {"sampling": {"guidance_scale": 3.5}},
                                   "filtering": {"report_max_per_class": 3,
                                                 "score_batch_size": 7}})
    classifiers = {n for n in ARM_NODES if n.endswith((*TRAIN, "evaluate_classifier"))}
    # The curve's draws are redone too: they live in the edited engine.
    assert ran == classifiers | CURVE_NODES | {"evaluation.train_evaluator",
                                                 "evaluation.fid_reference_statistics"} | REPORT \
        | GENERATOR_REPORT
    plan = "\n".join(r.getMessage() for r in caplog.records)
    assert "code changed: genaug.models.classifier_training" in plan


def test_corrupt_fingerprint_store_reruns_everything(project: KedroProject, caplog) -> None:
    (project.data / FINGERPRINTS).write_text("{not json")
    ran = _rerun(project, caplog, {"synthesis": {"sampling": {"guidance_scale": 3.5}},
                                   "filtering": {"report_max_per_class": 3,
                                                 "score_batch_size": 7}})
    assert ran == {node.name for node in create_pipelines(declared())["ablation_threshold"].nodes}


def test_plan_command_shows_reasons_and_runs_nothing(project: KedroProject) -> None:
    conf = project.root / "conf" / "test" / "parameters_synthesis.yml"
    original = conf.read_text()
    changed = yaml.safe_load(original)
    changed["synthesis"]["sampling"]["guidance_scale"] = 1.5
    conf.write_text(yaml.safe_dump(changed))
    before = sorted(p.name for p in (project.root / "data").rglob("*"))
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "kedro"), "plan", "--pipeline",
             "ablation_threshold", "--env", "test"],
            cwd=project.root, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    finally:
        conf.write_text(original)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run   synthesis.generate_synthetic_pool" in result.stdout
    assert "parameter synthesis.sampling.guidance_scale: 3.5 -> 1.5" in result.stdout
    assert "run   synthesis.train_generator" not in result.stdout
    assert re.search(r"reuse generator \(version \S+\)", result.stdout)
    assert sorted(p.name for p in (project.root / "data").rglob("*")) == before
