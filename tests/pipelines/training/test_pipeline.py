"""The training template's shape: the arm's inputs (one typed parameter block) and outputs."""

from genaug.pipelines import training
from genaug.pipelines.training.pipeline import SEED_SLOTS


def test_template_io():
    template = training.create_template()
    assert template.inputs() == {"real_train", "class_names", "synthetic_kept",
                                 "params:training", "params:seed", "params:device", "seed_store"}
    # The seeds each slot trained go to the arm's seed store (one folder, a name per slot).
    assert template.outputs() == {"classifier", "training_history",
                                  *(f"seed_store_{slot}" for slot in range(SEED_SLOTS))}


def test_extra_real_templates_io():
    matched = training.create_matched_real_template()
    assert matched.inputs() == {"real_reserve", "synthetic_kept", "class_names", "params:seed"}
    curve = training.create_curve_real_template()
    assert curve.inputs() == {"real_reserve", "class_names", "params:training", "params:seed"}
    assert matched.outputs() == curve.outputs() == {"extra_real"}
