"""`python -m genaug.clusters slurm`: the SLURM job script it would submit (no SLURM needed)."""

from __future__ import annotations

import pytest

from genaug.clusters import main


def test_slurm_job_is_one_single_threaded_worker_advertising_its_gpus(capsys) -> None:
    main(["slurm", "--jobs", "3", "--gpus-per-job", "2", "--cores", "8", "--memory", "64GB",
          "--queue", "gpu", "--dry-run"])
    script = capsys.readouterr().out
    for line in ("#SBATCH -p gpu", "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:2"):
        assert line in script
    assert "--nthreads 1 " in script and "--resources GPU=2" in script


def test_cpu_only_jobs_claim_no_gpu(capsys) -> None:
    main(["slurm", "--gpus-per-job", "0", "--dry-run"])
    script = capsys.readouterr().out
    assert "--gres" not in script and "--resources" not in script


def test_bad_job_count_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        main(["slurm", "--jobs", "0", "--dry-run"])
