"""Per-resident settings the worker needs, keyed by pseudonym (pure).

The rules file (:mod:`stream.rules.config`) holds thresholds for everyone; this file holds
what differs per resident, by pseudonym only (names stay in the alert service)::

    [cohorts.diabetic]
    no_checkin_days = 3               # "diabetic and no check-in for 3 days"

    [residents."9b2e...32 hex..."]
    cohorts = ["diabetic"]            # diabetic residents get the diabetic glucose thresholds
    no_checkin_days = 2               # wins over the cohort's and the default
    height_m = 1.62                   # for BMI when the scale does not send a height

    [residents."9b2e...32 hex...".rules]   # a partial rules document (with_overrides)
    settings = { spo2_scale = 2 }

The no-check-in period of a resident is their own ``no_checkin_days``, else the smallest
of their cohorts', else the worker's default (``CAREPULSE_NO_CHECKIN_DAYS``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

from carepulse.pseudonym import is_pseudonym
from stream.errors import RuleConfigError
from stream.rules.config import RuleSet, with_overrides


@dataclass(frozen=True, slots=True)
class Resident:
    """What the worker knows of one resident.

    Attributes:
        cohorts: cohort names (``diabetic``, ``heart_failure``, ...).
        no_checkin_days: this resident's own no-check-in period, if set.
        height_m: height for BMI, if known.
        rules: the partial rules document merged over the defaults for this resident.
    """

    cohorts: tuple[str, ...] = ()
    no_checkin_days: float | None = None
    height_m: float | None = None
    rules: Mapping[str, Any] = field(default_factory=dict)

    @property
    def diabetic(self) -> bool | None:
        """``True`` in the diabetic cohort, else unknown (the rules' setting decides)."""
        return True if "diabetic" in self.cohorts else None


@dataclass(frozen=True, slots=True)
class Residents:
    """The residents file, validated."""

    cohort_days: Mapping[str, float] = field(default_factory=dict)
    residents: Mapping[str, Resident] = field(default_factory=dict)

    def get(self, subject_id: str) -> Resident:
        """The resident's entry, or the empty one."""
        return self.residents.get(subject_id, _NOBODY)

    def no_checkin_days(self, subject_id: str, default: float) -> float:
        """The no-check-in period in days that applies to ``subject_id``."""
        resident = self.get(subject_id)
        if resident.no_checkin_days is not None:
            return resident.no_checkin_days
        periods = [self.cohort_days[c] for c in resident.cohorts if c in self.cohort_days]
        return min(periods) if periods else default

    def rules_for(self, subject_id: str, base: RuleSet) -> RuleSet:
        """``base`` with the resident's override merged (validated), or ``base`` itself."""
        resident = self.get(subject_id)
        return with_overrides(base, resident.rules) if resident.rules else base


_NOBODY = Resident()


def _fail(where: str, key: str, reason: str) -> NoReturn:
    raise RuleConfigError(where, key, reason)


def _days(entry: Mapping[str, Any], where: str) -> float | None:
    value = entry.get("no_checkin_days")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        _fail(where, "no_checkin_days", f"expected a number of days above 0, got {value!r}")
    return float(value)


def parse_residents(text: str, base: RuleSet) -> Residents:
    """Parse and validate a residents file; each override is checked against ``base``.

    Raises:
        RuleConfigError: naming the cohort or resident and the key at fault.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        _fail("(residents)", "", f"not valid TOML ({exc})")
    unknown = sorted(set(doc) - {"cohorts", "residents"})
    if unknown:
        _fail("(residents)", ", ".join(unknown), "unknown key(s); known: cohorts, residents")
    cohorts: dict[str, float] = {}
    for name, entry in doc.get("cohorts", {}).items():
        where = f"cohorts.{name}"
        if not isinstance(entry, dict) or set(entry) - {"no_checkin_days"}:
            _fail(where, "", "expected a table with no_checkin_days")
        days = _days(entry, where)
        if days is not None:
            cohorts[name] = days
    residents: dict[str, Resident] = {}
    for subject, entry in doc.get("residents", {}).items():
        where = f"residents.{subject}"
        if not is_pseudonym(subject):
            _fail(where, "", "residents are keyed by pseudonym (32 lowercase hex), never by name")
        if not isinstance(entry, dict):
            _fail(where, "", "expected a table")
        extra = sorted(set(entry) - {"cohorts", "no_checkin_days", "height_m", "rules"})
        if extra:
            _fail(where, ", ".join(extra), "unknown key(s)")
        groups = entry.get("cohorts", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            _fail(where, "cohorts", "expected a list of cohort names")
        height = entry.get("height_m")
        if height is not None and (
            isinstance(height, bool)
            or not isinstance(height, int | float)
            or not 0.5 <= height <= 2.5
        ):
            _fail(where, "height_m", f"expected metres between 0.5 and 2.5, got {height!r}")
        overrides = entry.get("rules", {})
        if overrides:
            with_overrides(base, overrides)  # validate now, not at the first reading
        residents[subject] = Resident(
            cohorts=tuple(groups),
            no_checkin_days=_days(entry, where),
            height_m=None if height is None else float(height),
            rules=MappingProxyType(overrides),
        )
    return Residents(MappingProxyType(cohorts), MappingProxyType(residents))
