"""Run a Kedro pipeline on a Dask cluster: ``kedro run --runner genaug.runner.DaskRunner``.

Modules: ``runner`` (``DaskRunner``, ``local_cluster``), ``schedule`` (one run's bookkeeping
and the driver-side hooks), ``placement`` (where a node may run, priorities), ``tasks`` (what
runs on a worker).

``--runner-params address=tcp://scheduler:8786`` uses a running cluster; without an address
the runner starts a ``distributed.LocalCluster`` on this machine (``n_workers`` processes,
default one per core) and stops it after the run.

Design (Kedro's Dask deployment recipe, adapted to Kedro 1.7's runner API)
--------------------------------------------------------------------------
* **Hooks run in the driver** (the ``kedro run`` process), never on workers: kedro-mlflow
  logs to the one run it holds open here, ``StaleOutputsHook`` writes its one fingerprint
  store, and the per-arm MLflow runs are made once. A worker's own hook manager (the recipe's
  way) would open other MLflow runs and write the store from several processes. Node hooks get
  what they get under the sequential runner, with one difference made for size: in
  ``before_node_run`` ``inputs`` holds only what the driver has (parameters, in-memory data);
  in ``after_node_run`` and ``on_node_error`` ``inputs``/``outputs`` are mappings that load a
  saved dataset from the catalog when a hook reads it. Dataset hooks are not called for loads
  and saves made on workers.
* **Data moves through the catalog, never through the scheduler**: a worker gets the node, the
  catalog entries of its saved inputs and outputs and the values the driver holds, loads,
  runs, saves, and returns its timing. Before anything runs, the runner fails if an in-memory
  dataset made on a worker is read by another node (:class:`InMemoryTransferError`).
* Nodes that touch a dataset living in this process (kedro-mlflow's datasets log to its active
  run; datasets marked ``_SINGLE_PROCESS``), and generator nodes (outputs saved chunk by chunk),
  run in the driver through Kedro's own ``Task``, every hook included.
* Nodes tagged ``gpu`` ask for ``resources={"GPU": 1}`` when a worker advertises a ``GPU``
  resource (``dask worker --resources GPU=1``, dask-cuda): at most one per GPU at a time.
* Scheduling is Kedro's: a node is submitted once its inputs are made, the node with the most
  work downstream first. A worker that dies takes only its running node, which Dask reruns
  elsewhere. On a node's error nothing new is submitted, running nodes finish (no save is
  cut), then the error is raised with Kedro's resume hint.
* Every task sets torch to ``torch_threads`` intra-op threads and restores the count after, so
  a node's numbers do not depend on which node ran on the worker before it. CPU float results
  equal the sequential runner's at the same thread count (see ``genaug.common.threads``).
"""

from genaug.dask.placement import InMemoryTransferError, check_transfers, downstream_counts
from genaug.dask.runner import DaskRunner, local_cluster
from genaug.dask.tasks import GPU_RESOURCE, GPU_TAG, TaskReport

__all__ = ["GPU_RESOURCE", "GPU_TAG", "DaskRunner", "InMemoryTransferError", "TaskReport",
           "check_transfers", "downstream_counts", "local_cluster"]
