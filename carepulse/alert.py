"""The alert: one rule's verdict about one resident, on the ``alerts`` topic (versioned JSON).

The stream worker raises an alert when a rule fires (after its persistence policy) and
sends the same alert again with ``status="resolved"`` when the rule clears. The alert
service folds them into cases: one open case per (station, subject, rule), with a repeat
counter. Kafka key: ``subject_id`` (so a resident's alerts stay in order).

    {"schema": 1, "alert_id": "3f0a...", "station_id": "st-001", "subject_id": "9b2e...",
     "rule_id": "bp.urgent_referral", "severity": "urgent", "category": "clinical",
     "status": "firing", "reason": "Blood pressure 182/112 mmHg ...",
     "source": "China hypertension guideline 2018, Table 4",
     "evidence": {"readings": [{"observation_id": "...", "kind": "blood_pressure",
                                "measured_at": "...", "values": {...}}],
                  "window": {"start": "...", "end": "..."}, "values": {...}},
     "raised_at": "2026-11-27T07:31:05Z"}

Rules the constructor enforces (breaking one raises ``ObservationError`` naming the field,
the same error the observation uses for wire-contract violations):

* ``subject_id`` is a pseudonym — alerts, like readings, never carry a name or phone;
* ``category`` is ``clinical`` (the social-worker queue) or ``technical`` (device offline,
  battery low: a separate list, never in the clinical queue);
* ``alert_id`` is deterministic: the same rule firing on the same evidence gives the same
  id, so a re-processed window does not open a second case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from carepulse.observation import choice, format_time, invalid, parse_time
from carepulse.pseudonym import is_pseudonym

ALERT_SCHEMA_VERSION: Final = 1


class Severity(StrEnum):
    """How fast a person must act (most urgent first)."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    FOLLOW_UP = "follow-up"
    ENGAGEMENT = "engagement"

    @property
    def rank(self) -> int:
        """0 for emergency, 3 for engagement: sort ascending for the queue."""
        return list(Severity).index(self)


class Category(StrEnum):
    """Which list an alert belongs to."""

    CLINICAL = "clinical"
    TECHNICAL = "technical"


class Status(StrEnum):
    """Whether the rule is firing or has cleared."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert message, validated on construction."""

    alert_id: str
    station_id: str
    subject_id: str
    rule_id: str
    severity: Severity
    category: Category
    status: Status
    reason: str
    source: str
    raised_at: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)
    schema: int = ALERT_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema != ALERT_SCHEMA_VERSION or isinstance(self.schema, bool):
            invalid("schema", f"unsupported version {self.schema!r}")
        if not is_pseudonym(self.subject_id):
            invalid("subject_id", "expected a pseudonym; alerts never carry raw resident ids")
        for name in ("alert_id", "station_id", "rule_id", "reason", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                invalid(name, "missing or empty")
        object.__setattr__(self, "severity", choice(Severity, self.severity, "severity"))
        object.__setattr__(self, "category", choice(Category, self.category, "category"))
        object.__setattr__(self, "status", choice(Status, self.status, "status"))
        if not isinstance(self.raised_at, datetime) or self.raised_at.tzinfo is None:
            invalid("raised_at", "expected a timezone-aware datetime")
        if not isinstance(self.evidence, Mapping):
            invalid("evidence", "expected an object")

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form."""
        return {
            "schema": self.schema,
            "alert_id": self.alert_id,
            "station_id": self.station_id,
            "subject_id": self.subject_id,
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "category": self.category.value,
            "status": self.status.value,
            "reason": self.reason,
            "source": self.source,
            "evidence": dict(self.evidence),
            "raised_at": format_time(self.raised_at),
        }

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON for the ``alerts`` topic."""
        return json.dumps(self.as_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        """Parse and validate; any defect raises ``ObservationError`` naming the field."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            invalid("(root)", f"not valid JSON: {exc}")
        if not isinstance(data, dict):
            invalid("(root)", "expected a JSON object")
        missing = [k for k in _FIELDS if k not in data]
        if missing:
            invalid(missing[0], "missing")
        unknown = sorted(set(data) - set(_FIELDS) - {"schema"})
        if unknown:
            invalid(unknown[0], "unknown field for schema 1")
        return cls(
            alert_id=data["alert_id"],
            station_id=data["station_id"],
            subject_id=data["subject_id"],
            rule_id=data["rule_id"],
            severity=data["severity"],
            category=data["category"],
            status=data["status"],
            reason=data["reason"],
            source=data["source"],
            evidence=data["evidence"],
            raised_at=parse_time(data["raised_at"], "raised_at"),
            schema=data.get("schema", ALERT_SCHEMA_VERSION),
        )


_FIELDS: Final = (
    "alert_id",
    "station_id",
    "subject_id",
    "rule_id",
    "severity",
    "category",
    "status",
    "reason",
    "source",
    "evidence",
    "raised_at",
)


def alert_id_for(station_id: str, subject_id: str, rule_id: str, episode: str) -> str:
    """Deterministic id: the same rule, resident and episode (e.g. window start) give one id."""
    canonical = json.dumps([station_id, subject_id, rule_id, episode], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
