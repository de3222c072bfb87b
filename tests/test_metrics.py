"""Improvement definitions on constructed numbers."""

import itertools
import math

import pytest

from genaug.metrics import (
    absolute_gain,
    equivalent_real,
    exchange_rate,
    improvement_ratio,
    relative_gain,
)


def test_absolute_and_relative_gain():
    assert absolute_gain(0.85, 0.80) == pytest.approx(5.0)
    assert absolute_gain(0.78, 0.80) == pytest.approx(-2.0)
    assert relative_gain(0.88, 0.80).value == pytest.approx(0.1)
    zero = relative_gain(0.5, 0.0)
    assert zero.value is None and "0" in zero.reason


def test_improvement_ratio_constructed():
    # synthetic +2 pp, real +4 pp -> a synthetic image is worth half a real one
    ir = improvement_ratio(0.82, 0.84, 0.80)
    assert ir.value == pytest.approx(0.5) and ir.reason is None
    assert improvement_ratio(0.84, 0.84, 0.80).value == pytest.approx(1.0)
    assert improvement_ratio(0.78, 0.84, 0.80).value == pytest.approx(-0.5)
    assert improvement_ratio(0.90, 0.84, 0.80).value == pytest.approx(2.5)


@pytest.mark.parametrize("real", [0.80, 0.79, 0.8005])
def test_improvement_ratio_undefined_when_real_gain_not_positive(real):
    ir = improvement_ratio(0.82, real, 0.80)
    assert ir.value is None
    assert "IR undefined" in ir.reason


def test_bad_accuracy_raises():
    with pytest.raises(ValueError, match="baseline_acc"):
        absolute_gain(0.5, 80.0)
    with pytest.raises(ValueError, match="synthetic_acc"):
        improvement_ratio(math.nan, 0.8, 0.7)


CURVE_X = [0, 100, 200, 400, 800]
CURVE_GAIN = [0.0, 1.0, 1.5, 1.4, 2.0]  # the 1.4 dip is made monotone (1.5)


def test_equivalent_real_is_exact_at_curve_points_and_monotone():
    for x, gain in zip(CURVE_X[:3], CURVE_GAIN[:3], strict=True):
        assert equivalent_real(gain, CURVE_X, CURVE_GAIN).value == pytest.approx(x)
    assert equivalent_real(2.0, CURVE_X, CURVE_GAIN).value == pytest.approx(800)
    # On the flat stretch made from the dip, the smallest count that reaches the gain.
    assert equivalent_real(1.5, CURVE_X, CURVE_GAIN).value == pytest.approx(200)
    values = [equivalent_real(g, CURVE_X, CURVE_GAIN).value for g in
              [0.1 * i for i in range(21)]]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert 0 < values[5] < 100 and 400 < values[17] < 800


def test_equivalent_real_undefined_outside_the_curve_or_on_a_flat_one():
    below = equivalent_real(-0.5, CURVE_X, CURVE_GAIN)
    assert below.value is None and "below the curve's start" in below.reason
    above = equivalent_real(2.5, CURVE_X, CURVE_GAIN)
    assert above.value is None and "worth more than 800 real images" in above.reason
    flat = equivalent_real(0.0, [0, 100, 200], [0.0, -0.3, 0.0])
    assert flat.value is None and "flat" in flat.reason
    with pytest.raises(ValueError, match="repeated image counts"):
        equivalent_real(0.5, [0, 100, 100], [0.0, 1.0, 2.0])


def test_exchange_rate():
    assert exchange_rate(2400, 600).value == pytest.approx(4.0)
    assert exchange_rate(2400, None).value is None
    assert "E is 0" in exchange_rate(2400, 0.0).reason
