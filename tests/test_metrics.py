"""Improvement definitions on constructed numbers."""

import math

import pytest

from genaug.metrics import absolute_gain, improvement_ratio, relative_gain


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
