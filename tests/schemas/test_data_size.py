"""`ablations.data_size`: sizes expand into namespaces, pools and arms; the generator's steps
follow the declared rule; bad input fails before any node, naming its key."""

from __future__ import annotations

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.data_size import DataSizeAblation, GeneratorSteps, expand_sizes
from genaug.schemas.project import validate_parameters
from tests.support import declared
from tests.support import raw_parameters as load_params


def block(**overrides) -> DataSizeAblation:
    """A data-size block with conf/base's shape."""
    values = {"train_per_class": [25, 50, 100], "curve_fractions": [0.25, 0.5, 1.0],
              "pool_multiples": [1, 3], "seeds": 5}
    return DataSizeAblation.model_validate({**values, **overrides})


def test_each_size_gets_its_namespace_pools_and_arms() -> None:
    chains = expand_sizes(block())
    assert list(chains) == ["size_25", "size_50", "size_100"]
    chain = chains["size_50"]
    assert chain.baseline == "size_50__baseline"
    assert chain.curve == ("size_50__real_1", "size_50__real_2", "size_50__real_3")
    assert chain.extra_per_class == (12, 25, 50)  # 0.25 × 50 = 12.5 rounds to even
    assert chain.synthetic == {"size_50__synthetic_1x": "size_50_pool_1x",
                               "size_50__synthetic_3x": "size_50_pool_3x"}
    assert chain.pool_multiples == {"size_50_pool_1x": 1, "size_50_pool_3x": 3}


def test_generator_steps_follow_the_rule() -> None:
    rule = GeneratorSteps(exponent=0.5, min_steps=300)
    assert rule.steps(100, 1200, 100) == 1200
    assert rule.steps(400, 1200, 100) == 2400
    assert rule.steps(25, 1200, 100) == 600
    assert rule.steps(1, 1200, 100) == 300  # the floor
    assert GeneratorSteps(exponent=0.0).steps(25, 1200, 100) == 1200
    assert GeneratorSteps(exponent=1.0, reference_per_class=50).steps(25, 1200, 100) == 600


def test_the_validated_parameters_carry_every_size_block() -> None:
    validated = validate_parameters(load_params("base"))
    blocks = validated.blocks
    assert blocks["params:size_25.synthesis"].train.steps == 600
    assert blocks["params:size_200.synthesis"].train.steps == 1697
    assert blocks["params:size_25_pool_3x.synthesis"].pool.multiple_of_real == 3
    assert blocks["params:size_25_pool_3x.synthesis"].pool.per_class is None
    split = blocks["params:size_50.data_processing"]
    assert (split.train_per_class, split.reserve_per_class) == (50, 50)
    assert blocks["params:size_50__real_2.training"].extra_real_per_class == 25
    assert blocks["params:size_50__real_2.training"].strategy == "real_augmented"
    assert blocks["params:size_50__synthetic_3x.filter"].drop_fraction == 0.2
    assert blocks["params:size_50__baseline.training"].seeds == [0, 1, 2, 3, 4]


def test_the_declaration_lists_the_size_arms_as_their_own_ablation() -> None:
    declaration = declared("test")
    assert declaration.ablation_arms()["data_size"] == declaration.size_arms
    assert declaration.coordinates("size_4__synthetic_2x") == {
        "train_per_class": 4, "role": "synthetic_2x"}
    assert set(declaration.size_arms) <= set(declaration.all_arms)


@pytest.mark.parametrize(("key", "value", "named"), [
    ("train_per_class", [50, 25], "train_per_class"),
    ("pool_multiples", [3, 3], "pool_multiples"),
    ("curve_fractions", [], "curve_fractions"),
])
def test_bad_lists_fail_naming_their_key(key: str, value: list, named: str) -> None:
    params = load_params("base")
    params["ablations"]["data_size"][key] = value
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    assert named in error.value.parameter


def test_fractions_that_collide_at_a_small_size_fail_naming_the_key() -> None:
    params = load_params("base")
    params["ablations"]["data_size"]["curve_fractions"] = [0.01, 0.02]
    with pytest.raises(ParameterError, match="at 25 per class they give") as error:
        validate_parameters(params)
    assert error.value.parameter == "ablations.data_size.curve_fractions"


def test_bad_seeds_are_named_where_they_were_written() -> None:
    params = load_params("base")
    params["ablations"]["data_size"]["seeds"] = [1, 1]
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    assert error.value.parameter == "ablations.data_size.seeds"


def test_a_misspelt_key_fails_with_a_suggestion() -> None:
    params = load_params("base")
    params["ablations"]["data_size"]["pool_multiple"] = [1]
    with pytest.raises(ParameterError, match="pool_multiple"):
        validate_parameters(params)
