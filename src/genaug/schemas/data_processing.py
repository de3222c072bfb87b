"""The `data_processing` block: which classes, what image shape, how many images per split."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema

# Grayscale or RGB: the generator, the CLIP and the classifiers handle nothing else.
CHANNELS = (1, 3)


class DataProcessingParams(Schema):
    """Raw class names, the selected classes, the image shape and the per-class split sizes."""

    # Names of the raw label ids 0..N-1 (for an image folder: its sorted sub-folder names).
    class_names: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2)]
    # Subset of class_names in label-id order; null (or an empty list) selects all of them.
    classes: Annotated[list[str], Field(min_length=2)] | None = None
    # Expected [channels, height, width] of every raw image.
    image_shape: tuple[int, int, int]
    train_per_class: Annotated[int, Field(ge=1)]
    reserve_per_class: Annotated[int, Field(ge=0)]
    # Stratified subsample of the official test split per class; null = the whole split.
    test_per_class: Annotated[int, Field(ge=1)] | None = None

    @field_validator("classes", mode="before")
    @classmethod
    def _empty_selects_all(cls, value: Any) -> Any:
        """An empty list has always meant "all classes", like null."""
        return None if isinstance(value, list) and not value else value

    @field_validator("image_shape", mode="before")
    @classmethod
    def _check_shape(cls, value: Any) -> Any:
        """[C, H, W] as a list (YAML) or tuple of three positive ints, C grayscale or RGB."""
        if (not isinstance(value, list | tuple) or len(value) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                           for v in value)
                or value[0] not in CHANNELS):
            # An empty key: the error is the field's own, and `parse` names the field.
            raise ParameterError("", "[channels (1 or 3), height, width]", value)
        return tuple(value)

    @field_validator("class_names")
    @classmethod
    def _unique_names(cls, value: list[str]) -> list[str]:
        """Each raw label id has its own name."""
        if len(set(value)) != len(value):
            raise ParameterError("", "a list of at least two unique class names", value)
        return value

    @field_validator("classes")
    @classmethod
    def _known_selection(cls, value: list[str] | None,
                         info: ValidationInfo) -> list[str] | None:
        """The selection repeats no class and names only classes of class_names."""
        if value is None:
            return value
        if len(set(value)) != len(value):
            raise ParameterError("", "null or a list of at least two unique class names", value)
        class_names = info.data.get("class_names")
        if class_names is None:  # class_names failed first and is the error reported
            return value
        unknown = [c for c in value if c not in class_names]
        if unknown:
            raise ParameterError("", f"names from data_processing.class_names {class_names}",
                                 unknown)
        return value

    @property
    def selected_classes(self) -> list[str]:
        """The class names in use, in label-id order (all of class_names when none selected)."""
        return list(self.classes or self.class_names)

    @property
    def selected_ids(self) -> list[int]:
        """The raw label id of each selected class, in label-id order."""
        return [self.class_names.index(name) for name in self.selected_classes]

    def image_shape_tuple(self) -> tuple[int, int, int]:
        """The expected (C, H, W) of every image, for other stages' `check_image_shape`."""
        return self.image_shape
