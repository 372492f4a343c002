"""Rule evaluation: which rules fire for a series, and why.

Rules are evaluated in configuration order against the series' header (the first instance received,
read without pixel data; series-level attributes are the same in every instance). Every matching rule
fires, unless an earlier matching rule says ``stop: true``. The ``fallback: true`` rule fires only when
no other rule fired (its own ``match``, if any, must hold too).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from dicom_node.config import RuleConfig
from dicom_node.routing.conditions import Condition, parse_condition


@dataclass(frozen=True)
class Rule:
    config: RuleConfig
    condition: Condition

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def action(self) -> str:
        if self.config.discard:
            return "discard"
        return "pipeline" if self.config.pipeline else "forward"


@dataclass(frozen=True)
class Decision:
    rule: Rule
    matched: bool
    fired: bool
    reason: str


def compile_rules(configs: list[RuleConfig]) -> list[Rule]:
    return [
        Rule(cfg, parse_condition(cfg.match, f"rules[{i}] ({cfg.name}).match"))
        for i, cfg in enumerate(configs)
    ]


def evaluate(rules: list[Rule], ds: Dataset) -> list[Decision]:
    """One decision per rule, in order, each with the condition that decided it."""
    decisions: list[Decision] = []
    stopped_by: str | None = None
    fallback: Rule | None = None
    for rule in rules:
        if rule.config.fallback:
            fallback = rule
            continue
        if stopped_by is not None:
            decisions.append(
                Decision(rule, False, False, f"not evaluated: rule {stopped_by!r} has stop: true")
            )
            continue
        outcome = rule.condition.evaluate(ds)
        decisions.append(Decision(rule, outcome.matched, outcome.matched, outcome.reason))
        if outcome.matched and rule.config.stop:
            stopped_by = rule.name
    if fallback is not None:
        if any(d.fired for d in decisions):
            decisions.append(Decision(fallback, False, False, "fallback: another rule fired"))
        else:
            outcome = fallback.condition.evaluate(ds)
            reason = f"fallback: no other rule fired; {outcome.reason}"
            decisions.append(Decision(fallback, outcome.matched, outcome.matched, reason))
    order = {rule.name: i for i, rule in enumerate(rules)}
    return sorted(decisions, key=lambda d: order[d.rule.name])
