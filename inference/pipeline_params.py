"""Pipeline ``params``: one typed pydantic model per pipeline, checked when the node starts.

``pipelines.<name>.params`` in the node configuration is validated against the model the registry names
for that pipeline (:func:`inference.registry.params_model`): an unknown key or a wrong value stops the
start, naming the key path (:func:`validate_params`). The pipeline reads the same model again when it is
built (:meth:`PipelineParams.of`), so it never parses its options by hand.

The models live in light modules (pydantic only: no torch, MONAI, scipy) because the node validates
them in its own process, where no pipeline is imported (``tests/house/test_light_imports.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from dicom_node.errors import ConfigError

P = TypeVar("P", bound="PipelineParams")


class PipelineParams(BaseModel):
    """Base of every pipeline's params model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None, pipeline: str) -> Self:
        """The params of ``settings`` (a pipeline's settings mapping: its ``params`` key, a mapping or an
        instance of this model); ConfigError naming the key when they do not validate."""
        raw = (settings or {}).get("params") or {}
        if isinstance(raw, cls):
            return raw
        return validate_params(cls, pipeline, raw)


class NoParams(PipelineParams):
    """A pipeline that takes no params (``qc``): any key is an error."""


def describe_errors(error: ValidationError, pipeline: str, prefix: str) -> str:
    """One ``path: reason`` per problem, ``; ``-joined; an unknown key says so in words."""
    lines = []
    for item in error.errors():
        path = ".".join([prefix, *(str(p) for p in item["loc"])])
        if item["type"] == "extra_forbidden":
            message = f"unknown parameter of pipeline {pipeline}"
        else:
            message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


def validate_params(model: type[P], pipeline: str, params: Mapping[str, Any]) -> P:
    """``params`` validated by ``model``; ConfigError ``pipelines.<pipeline>.params.<key>: <reason>``."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        prefix = f"pipelines.{pipeline}.params"
        raise ConfigError(f"invalid configuration: {describe_errors(exc, pipeline, prefix)}") from None
