"""Rules on whole studies: a set of series conditions that must all be present in one study.

```yaml
study_rules:
  - name: t1-and-rest
    series:                      # role -> match (the same conditions as a series rule's match)
      t1: {SeriesDescription: {regex: "(?i)mprage|t1"}}
      bold: {SeriesDescription: {regex: "(?i)rest"}}
    send_to: [archive]           # and/or pipeline: <name>
    quiet_s: 120                 # the study is quiet this long (no instance, no series still open)
    incomplete: wait             # process | discard | wait (up to wait_max_s more, then discard)
    wait_max_s: 3600
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dicom_node.config_types import _Strict
from dicom_node.routing.conditions import parse_condition


class StudyRuleConfig(_Strict):
    name: str = Field(min_length=1)
    series: dict[str, dict[str, Any]] = Field(
        min_length=1, description="role -> series condition; every role must match a series of the study"
    )
    pipeline: str | None = Field(
        default=None,
        description="gets the first role's series as its input and every other role's series in the study "
        "context folder, context/<role>/",
    )
    send_to: list[str] = Field(default_factory=list, description="forward every matched series")
    quiet_s: float = Field(default=120, gt=0, description="no instance in the study for this long")
    incomplete: Literal["process", "discard", "wait"] = Field(
        default="wait",
        description="when the study is quiet without every role: process what arrived, discard it, or wait "
        "up to wait_max_s more (then discard)",
    )
    wait_max_s: float = Field(default=3600, ge=0)

    @field_validator("series")
    @classmethod
    def _parse(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for role, match in value.items():
            if not role.isidentifier():
                raise ValueError(f"{role!r}: a role is a simple name (letters, digits, _)")
            parse_condition(match, f"series.{role}")
        return value

    @model_validator(mode="after")
    def _action(self) -> StudyRuleConfig:
        if not (self.pipeline or self.send_to):
            raise ValueError("a study rule needs an action: pipeline or send_to")
        return self
