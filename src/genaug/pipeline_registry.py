"""Project pipelines: every stage alone, the two ablations, reporting, and `__default__` (both)."""

from kedro.pipeline import Pipeline

from genaug.pipelines.ablations import create_pipelines


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines by name (composed in `genaug.pipelines.ablations`)."""
    return create_pipelines()
