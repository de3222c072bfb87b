"""Project pipelines: every stage alone, the two ablations and the default."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines by name."""
    pipelines = find_pipelines(raise_errors=True)
    if "__default__" not in pipelines:
        pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
