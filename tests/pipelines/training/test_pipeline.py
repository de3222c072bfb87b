"""The training pipeline's shape: template inputs/outputs and the registered baseline instance."""

from genaug.pipelines.training import create_pipeline, create_template


def test_template_io():
    template = create_template()
    assert template.inputs() == {"real_train", "real_reserve", "class_names", "synthetic_kept",
                                 "params:training", "params:training_overrides", "params:seed",
                                 "params:device"}
    assert template.outputs() == {"classifier", "training_history"}


def test_registered_pipeline_is_a_real_only_baseline():
    pipe = create_pipeline()
    assert pipe.outputs() == {"baseline.classifier", "baseline.training_history"}
    assert pipe.inputs() == {"real_train", "real_reserve", "class_names", "synthetic_pool",
                             "params:training", "params:baseline.training",
                             "params:seed", "params:device"}
