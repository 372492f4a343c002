"""Rules on whole studies (``study_rules``): fire once per study when every role has a series.

Each scheduler pass, for each study rule, the studies that received something within the rule's horizon
and that the rule has not decided yet are looked at. A study is ready to decide when none of its series
is still open (receiving, or complete but not yet routed) and nothing arrived for ``quiet_s``. Each
routed series is matched against each role's condition (the series' first instance header, as series
rules read it). Then:

- every role present: the rule fires (one job, anchored on the first role's series);
- some roles present: ``incomplete: process`` fires with what arrived, ``discard`` records the study as
  discarded, ``wait`` waits up to ``wait_max_s`` more (a late series still counts), then discards;
- no role present: not this rule's study (nothing recorded).

The decision is recorded once per (study, rule) in the ledger, with the roles found, and shown in the
anchor series' timeline. Series rules still run on every series as before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pydicom import dcmread

from dicom_node.config import Config
from dicom_node.config_study import StudyRuleConfig
from dicom_node.ledger import JobTicket, Ledger, NewJob, SeriesRecord, StudySeriesRef
from dicom_node.logsetup import get_logger
from dicom_node.routing.conditions import Condition, parse_condition
from dicom_node.storage import Storage

log = get_logger("dicom_node.routing.studies")
HORIZON_GRACE_S = 3600.0  # a study is looked at this long after its rule could last have decided it


def study_ticket(
    config: Config, rule: StudyRuleConfig, study_uid: str, roles: Mapping[str, SeriesRecord], reason: str
) -> JobTicket:
    anchor = next(iter(roles.values()))
    return JobTicket(
        series_instance_uid=anchor.series_instance_uid,
        study_instance_uid=study_uid,
        revision=anchor.revision,
        rule=rule.model_dump(mode="json"),
        reason=reason,
        pipeline=rule.pipeline,
        anonymize=None,
        deidentify=None,
        send_to=list(rule.send_to),
        destinations={
            name: config.destinations[name].model_dump(mode="json", exclude={"tls"}) for name in rule.send_to
        },
        study_series=[  # a list: the ticket's JSON sorts keys, and the first role is the input
            StudySeriesRef(role=role, series_instance_uid=row.series_instance_uid, revision=row.revision)
            for role, row in roles.items()
        ],
    )


class StudyRouter:
    def __init__(self, config: Config, ledger: Ledger, storage: Storage) -> None:
        self.config = config
        self.ledger = ledger
        self.storage = storage
        self.rules = [
            (
                rule,
                {role: parse_condition(match, f"{rule.name}.{role}") for role, match in rule.series.items()},
            )
            for rule in config.study_rules
        ]
        self._matches: dict[tuple[str, int], list[str]] = {}  # (rule, series id) -> roles it matches

    def run(self, now: float | None = None) -> int:
        """Decide every study that is ready; return how many decisions were recorded."""
        now = time.time() if now is None else now
        decided = 0
        for rule, conditions in self.rules:
            wait = rule.wait_max_s if rule.incomplete == "wait" else 0.0
            since = now - (rule.quiet_s + wait + HORIZON_GRACE_S)
            for study_uid in self.ledger.studies_to_decide(rule.name, since):
                decided += self._decide(rule, conditions, study_uid, now)
        return decided

    def _roles_of(
        self, rule: StudyRuleConfig, conditions: Mapping[str, Condition], row: SeriesRecord
    ) -> list[str]:
        key = (rule.name, row.id)
        if key not in self._matches:
            try:
                header = dcmread(self.storage.absolute(row.sample_path), stop_before_pixels=True)
                self._matches[key] = [r for r, c in conditions.items() if c.evaluate(header).matched]
            except Exception as exc:  # an unreadable sample matches no role
                log.warning("study_rule_unreadable_sample", series_id=row.id, error=str(exc))
                self._matches[key] = []
        return self._matches[key]

    def _decide(
        self, rule: StudyRuleConfig, conditions: Mapping[str, Condition], study_uid: str, now: float
    ) -> int:
        series = self.ledger.study_series(study_uid)
        if not series or any(s.state != "routed" for s in series):
            return 0  # still arriving
        quiet = now - max(s.last_received_at for s in series)
        if quiet < rule.quiet_s:
            return 0
        found: dict[str, SeriesRecord] = {}
        for row in series:
            for role in self._roles_of(rule, conditions, row):
                found.setdefault(role, row)
        if not found:
            return 0
        roles = {role: found[role] for role in rule.series if role in found}  # the rule's role order
        missing = [role for role in rule.series if role not in found]
        present = ", ".join(
            f"{role}={row.series_description or row.series_instance_uid}" for role, row in roles.items()
        )
        anchor_id = next(iter(roles.values())).id
        uids = {role: row.series_instance_uid for role, row in roles.items()}
        if not missing:
            return self._fire(
                rule, study_uid, roles, uids, anchor_id, "fired", f"study rule {rule.name!r} fired: {present}"
            )
        absent = ", ".join(missing)
        if rule.incomplete == "process":
            message = f"study rule {rule.name!r} fired on an incomplete study (missing {absent}): {present}"
            return self._fire(rule, study_uid, roles, uids, anchor_id, "processed-incomplete", message)
        if rule.incomplete == "wait" and quiet < rule.quiet_s + rule.wait_max_s:
            return 0
        waited = f" after waiting {rule.wait_max_s:g} s" if rule.incomplete == "wait" else ""
        message = f"study rule {rule.name!r}: study discarded, {absent} never came{waited} (had {present})"
        self.ledger.decide_study(study_uid, rule.name, "discarded", uids, message, anchor_id)
        log.info("study_rule_discarded", rule=rule.name, missing=missing)
        return 1

    def _fire(
        self,
        rule: StudyRuleConfig,
        study_uid: str,
        roles: Mapping[str, SeriesRecord],
        uids: Mapping[str, str],
        anchor_id: int,
        decision: str,
        message: str,
    ) -> int:
        job = NewJob(
            rule_name=rule.name,
            action="pipeline" if rule.pipeline else "forward",
            pipeline=rule.pipeline,
            ticket=study_ticket(self.config, rule, study_uid, roles, message),
        )
        job_id = self.ledger.decide_study(study_uid, rule.name, decision, uids, message, anchor_id, job)
        log.info("study_rule_fired", rule=rule.name, decision=decision, job_id=job_id)
        return 1
