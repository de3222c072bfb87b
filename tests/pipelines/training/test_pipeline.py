"""The training template's shape: the arm's inputs (one typed parameter block) and outputs."""

from genaug.pipelines import training


def test_template_io():
    template = training.create_template()
    assert template.inputs() == {"real_train", "real_reserve", "class_names", "synthetic_kept",
                                 "params:training", "params:seed", "params:device"}
    assert template.outputs() == {"classifier", "training_history"}


def test_training_exports_only_the_template():
    assert training.__all__ == ["create_template"]
    assert not hasattr(training, "create_pipeline")
