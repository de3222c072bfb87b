"""Data processing pipeline: one node that checks the raw data and writes the real splits."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.data_processing.nodes import make_real_splits, make_train_splits


def create_pipeline(**kwargs) -> Pipeline:
    """Build the data_processing pipeline, grouped as one super-node in kedro-viz."""
    return Pipeline(
        [
            Node(
                func=make_real_splits,
                inputs=["raw_train", "raw_test", "params:data_processing", "params:seed"],
                outputs=["real_train", "real_reserve", "real_test", "class_names"],
                name="make_real_splits",
                tags=["data_processing"],
            )
        ],
        # Namespaced for the lineage view only: datasets and parameters keep their names.
        namespace="data_processing",
        prefix_datasets_with_namespace=False,
    )


def create_size_template() -> Pipeline:
    """`real_train` and `real_reserve` at another base size (a namespace per size; the test
    split stays the shared `real_test`)."""
    return Pipeline([Node(func=make_train_splits,
                          inputs=["raw_train", "raw_test", "params:data_processing",
                                  "params:seed"],
                          outputs=["real_train", "real_reserve"], name="make_real_splits",
                          tags=["data_processing"])])
