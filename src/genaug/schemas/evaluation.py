"""Parameters of evaluation: top-1 and FID/IS of every arm (`evaluation`), and the shared
evaluator network (`evaluation.evaluator`, trained with the same keys as a classifier)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema
from genaug.schemas.training import ClassifierParams


class EvaluatorParams(ClassifierParams):
    """`evaluation.evaluator`: a classifier trained on real_reserve + real_train."""

    # Batch size of the evaluator's test-accuracy check only (inference, per image).
    eval_batch_size: PositiveInt = Field(512, json_schema_extra={"affects_results": False})
    # Quality gate: only a warning when the evaluator's real_test top-1 is lower.
    min_test_accuracy: float | None = Field(None, json_schema_extra={"affects_results": False})


class EvaluationParams(Schema):
    """`evaluation`: how an arm's metrics are computed."""

    batch_size: PositiveInt
    # auto = inception-v3 when inception_weights_path is set (the file must exist), else
    # evaluator-cnn.
    feature_extractor: Literal["auto", "evaluator-cnn", "inception-v3"]
    # A local file, checked before anything runs; nothing is downloaded.
    inception_weights_path: str | None = None
    fid_reference: Literal["real_test", "real_reserve", "real_train"] = "real_test"
    max_fid_images: Annotated[int, Field(ge=2)] | None = None
    is_splits: PositiveInt = 10
    compute_fid: bool = True
    evaluator: EvaluatorParams

    @model_validator(mode="after")
    def _weights_exist(self) -> EvaluationParams:
        """A weights file that would be used must exist now, not hours into a run."""
        path = self.inception_weights_path
        needed = self.feature_extractor == "inception-v3" or (
            self.feature_extractor == "auto" and path is not None)
        if needed and not (path and Path(path).expanduser().is_file()):
            raise ParameterError("inception_weights_path",
                                 "an existing local file with torch-fidelity InceptionV3 weights "
                                 "(nothing is downloaded), or null with feature_extractor auto "
                                 "or evaluator-cnn", path)
        return self

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """The evaluator's `normalize` fits the images' channels."""
        try:
            self.evaluator.check_image_shape(shape)
        except ParameterError as exc:
            raise ParameterError(f"evaluator.{exc.parameter}", exc.expected, exc.got) from None
