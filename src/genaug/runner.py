"""``kedro run --runner genaug.runner.DaskRunner``: the Dask runner, which lives in
`genaug.dask` (this name is the one users type)."""

from genaug.dask import (
    GPU_RESOURCE,
    GPU_TAG,
    DaskRunner,
    InMemoryTransferError,
    TaskReport,
    check_transfers,
    downstream_counts,
    local_cluster,
)

__all__ = ["GPU_RESOURCE", "GPU_TAG", "DaskRunner", "InMemoryTransferError", "TaskReport",
           "check_transfers", "downstream_counts", "local_cluster"]
