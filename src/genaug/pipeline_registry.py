"""Project pipelines: every stage alone, the two ablations, and `__default__` running both."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from genaug.pipelines import ablation_threshold, ablation_training


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines by name.

    `__default__` is both ablations together: the shared stages and the `baseline` arm are
    identical nodes in both, so they run once. (Kedro 1.7 may ask `find_pipelines` for the
    requested pipelines only, so `__default__` is built from the modules directly.)
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = (ablation_threshold.create_pipeline()
                                + ablation_training.create_pipeline())
    return pipelines
