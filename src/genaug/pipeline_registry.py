"""Project pipelines: every stage alone, the two ablations, and `__default__` running both."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines by name.

    `__default__` is both ablations together: the shared stages and the `baseline` arm are
    identical nodes in both, so they run once.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = pipelines["ablation_threshold"] + pipelines["ablation_training"]
    return pipelines
