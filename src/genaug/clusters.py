"""Start a Dask cluster for `genaug.runner.DaskRunner` on SLURM and keep it up until Ctrl-C.

    python -m genaug.clusters slurm --jobs 4 --gpus-per-job 1 --cores 8 --memory 64GB \\
        --walltime 04:00:00 [--queue gpu] [--account ...] [--dry-run]

It prints the scheduler's address for ``kedro run --runner genaug.runner.DaskRunner
--runner-params address=<it>``. Each SLURM job is one Dask worker process with one torch
thread per task and, when it holds GPUs, the ``GPU`` resource the runner's "gpu"-tagged nodes
claim (one node per GPU at a time). ``--dry-run`` prints the sbatch script and exits.
Needs the ``cluster`` extra (dask-jobqueue); the project folder must be on a file system every
job mounts at the same path (the catalog's datasets are local paths).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster


def slurm_cluster(gpus_per_job: int, cores: int, memory: str, walltime: str,
                  queue: str | None = None, account: str | None = None) -> SLURMCluster:
    """A SLURMCluster (no job submitted yet) whose jobs are single-process workers advertising
    their GPUs."""
    from dask_jobqueue import SLURMCluster

    if gpus_per_job < 0 or cores < 1:
        raise ValueError(f"need gpus_per_job >= 0 and cores >= 1; got {gpus_per_job}, {cores}")
    extra: list[str] = []
    directives = []
    if gpus_per_job:
        extra += ["--resources", f"GPU={gpus_per_job}"]
        directives.append(f"--gres=gpu:{gpus_per_job}")
    options: dict[str, Any] = {"queue": queue, "account": account}
    # One worker thread (one node at a time per job) on `cores` booked CPUs: the runner's
    # torch_threads gives each node the job's cores.
    return SLURMCluster(cores=1, processes=1, job_cpu=cores, memory=memory, walltime=walltime,
                        job_extra_directives=directives, worker_extra_args=extra,
                        **{key: value for key, value in options.items() if value})


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, start the cluster, print its address, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m genaug.clusters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    slurm = sub.add_parser("slurm", help="workers as SLURM jobs (dask-jobqueue)")
    slurm.add_argument("--jobs", type=int, default=2, help="SLURM jobs = Dask workers")
    slurm.add_argument("--gpus-per-job", type=int, default=1)
    slurm.add_argument("--cores", type=int, default=8, help="CPU cores per job")
    slurm.add_argument("--memory", default="32GB", help="memory per job")
    slurm.add_argument("--walltime", default="04:00:00")
    slurm.add_argument("--queue", default=None, help="SLURM partition")
    slurm.add_argument("--account", default=None)
    slurm.add_argument("--dry-run", action="store_true", help="print the job script and exit")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    cluster = slurm_cluster(args.gpus_per_job, args.cores, args.memory, args.walltime,
                            args.queue, args.account)
    with cluster:
        if args.dry_run:
            print(cluster.job_script())
            return
        cluster.scale(jobs=args.jobs)
        print(f"Dask scheduler: {cluster.scheduler_address}\n"
              "kedro run --pipeline ablation_threshold --runner genaug.runner.DaskRunner "
              f"--runner-params address={cluster.scheduler_address},n_workers={args.jobs},"
              f"torch_threads={args.cores}\n"
              "Ctrl-C stops the cluster and cancels its jobs.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
