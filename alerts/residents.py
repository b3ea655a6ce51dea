"""Residents files (CSV or TOML) into :class:`~alerts.store.ResidentRecord`s.

Columns / keys: ``subject_id`` (the pseudonym) or ``resident_id`` (the station's own id,
pseudonymised here with the station secret: it is never stored), ``station_id``, ``name``,
``phone``, ``conditions`` (separated by ``;`` or ``|`` in CSV, a list in TOML), ``consent``
(``given``/``withdrawn``/``unknown``) and ``consent_at`` (ISO date or datetime).
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.errors import ImportProblem
from alerts.store import ResidentRecord
from carepulse.pseudonym import is_pseudonym, pseudonymise

CONSENT = ("given", "withdrawn", "unknown")


def parse_residents(
    text: str,
    fmt: str,
    *,
    default_station: str | None = None,
    station_secret: bytes | None = None,
) -> list[ResidentRecord]:
    """Parse a residents file; a bad record raises :class:`ImportProblem` with its line."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        rows: Iterable[tuple[int, Mapping[str, Any]]] = ((reader.line_num, row) for row in reader)
    elif fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ImportProblem(0, f"not valid TOML: {exc}") from exc
        entries = data.get("residents")
        if not isinstance(entries, list):
            raise ImportProblem(0, "expected [[residents]] tables")
        rows = ((n, row) for n, row in enumerate(entries, start=1))
    else:
        msg = f"unknown format {fmt!r}: use csv or toml"
        raise ImportProblem(0, msg)
    return [_record(line, row, default_station, station_secret) for line, row in rows]


def _record(
    line: int, row: Mapping[str, Any], default_station: str | None, secret: bytes | None
) -> ResidentRecord:
    subject = str(row.get("subject_id") or "").strip().lower()
    resident_id = str(row.get("resident_id") or "").strip()
    if not subject and resident_id:
        if secret is None:
            raise ImportProblem(
                line, "resident_id needs --station-secret-file to compute the pseudonym"
            )
        subject = pseudonymise(resident_id, secret)
    if not is_pseudonym(subject):
        raise ImportProblem(
            line, "subject_id must be a 32-hex-digit pseudonym (or give resident_id)"
        )
    station = str(row.get("station_id") or default_station or "").strip()
    if not station:
        raise ImportProblem(line, "station_id is missing (or pass --station)")
    raw_conditions = row.get("conditions") or []
    if isinstance(raw_conditions, str):
        conditions = tuple(
            c.strip() for c in raw_conditions.replace("|", ";").split(";") if c.strip()
        )
    elif isinstance(raw_conditions, list):
        conditions = tuple(str(c).strip() for c in raw_conditions if str(c).strip())
    else:
        raise ImportProblem(line, "conditions must be text or a list")
    consent = str(row.get("consent") or "unknown").strip().lower()
    if consent not in CONSENT:
        raise ImportProblem(line, f"consent must be one of {', '.join(CONSENT)}")
    return ResidentRecord(
        subject_id=subject,
        station_id=station,
        name=str(row.get("name") or "").strip(),
        phone=str(row.get("phone") or "").strip(),
        conditions=conditions,
        consent=consent,
        consent_at=_when(line, row.get("consent_at")),
    )


def _when(line: int, value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ImportProblem(line, f"consent_at {value!r} is not an ISO date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
