"""The `auto` choices a run resolves (device, numeric precision, FID/IS feature extractor):
logged once when the run starts and recorded on the MLflow parent run as `resolved/<key>` tags,
so a run that fell back to the CPU or to fp32 says so in its record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from genaug.common.device import resolve_device
from genaug.common.precision import resolve_precision
from genaug.models.diffusion_pretrained import resolve_pretrained_dtype
from genaug.models.feature_extractors import select_feature_extractor

logger = logging.getLogger(__name__)

# Precision knobs of the shared blocks: (parameter, block, attribute path).
_PRECISIONS = (("synthesis.precision", "synthesis", ("precision",)),
               ("training.precision", "training", ("precision",)),
               ("evaluation.evaluator.precision", "evaluation", ("evaluator", "precision")))


def resolved_choices(load: Callable[[str], Any]) -> dict[str, tuple[str, str]]:
    """{parameter: (configured, resolved)} for the run's device, precisions and extractor."""
    configured = str(load("params:device"))
    device = resolve_device(configured)
    choices = {"device": (configured, str(device))}
    for parameter, block, path in _PRECISIONS:
        value = load(f"params:{block}")
        for attribute in path:
            value = getattr(value, attribute)
        choices[parameter] = (value, resolve_precision(value, device))
    synthesis = load("params:synthesis")
    if synthesis.generator.kind == "pretrained":
        dtype = synthesis.pretrained.dtype
        choices["synthesis.pretrained.dtype"] = (dtype, resolve_pretrained_dtype(dtype, device))
    evaluation = load("params:evaluation")
    choices["evaluation.feature_extractor"] = (
        evaluation.feature_extractor,
        select_feature_extractor(evaluation.feature_extractor, evaluation.inception_weights_path))
    return choices


class ResolvedChoicesHook:
    """Log the run's resolved `auto` choices once and tag the MLflow parent run with them."""

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Resolve the choices from the run's parameters; log them; tag the active run."""
        choices = resolved_choices(catalog.load)
        logger.info("resolved: %s", "; ".join(
            f"{key} {configured} -> {resolved}" if configured != resolved else f"{key} {resolved}"
            for key, (configured, resolved) in choices.items()))
        if mlflow.active_run() is not None:
            mlflow.set_tags({f"resolved/{key}": resolved
                             for key, (_, resolved) in choices.items()})
