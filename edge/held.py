"""Readings waiting for a person to say whose they are (a shared scale's unplaceable weight).

Kept in the gateway's state folder (SQLite), listed and assigned with
``carepulse gateway held list`` and ``carepulse gateway held assign ID RESIDENT``. An
assigned reading becomes an ordinary observation in the outbox; nothing is guessed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from carepulse.observation import Kind, Source
from edge.ingest import HeldReading
from edge.readings import Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    reading     TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class HeldEntry:
    """A stored held reading and its id."""

    id: int
    held: HeldReading


class HeldStore:
    """Durable list of held readings."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add(self, held: HeldReading) -> int:
        """Keep a held reading; return its id."""
        cursor = self._db.execute(
            "INSERT INTO held (device_id, received_at, source, reason, reading)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                held.device_id,
                held.received_at.isoformat(),
                held.source.value,
                held.reason,
                json.dumps(_reading_to_json(held.reading)),
            ),
        )
        return int(cursor.lastrowid or 0)

    def list(self) -> list[HeldEntry]:
        """Every held reading, oldest first."""
        rows = self._db.execute(
            "SELECT id, device_id, received_at, source, reason, reading FROM held ORDER BY id"
        ).fetchall()
        return [
            HeldEntry(
                row[0],
                HeldReading(
                    device_id=row[1],
                    reading=_reading_from_json(json.loads(row[5])),
                    received_at=datetime.fromisoformat(row[2]),
                    source=Source(row[3]),
                    reason=row[4],
                ),
            )
            for row in rows
        ]

    def remove(self, entry_id: int) -> None:
        """Forget a held reading (after it was assigned)."""
        self._db.execute("DELETE FROM held WHERE id = ?", (entry_id,))


def _reading_to_json(reading: Reading) -> dict[str, Any]:
    return {
        "kind": reading.kind.value,
        "values": {k: list(v) if isinstance(v, tuple) else v for k, v in reading.values.items()},
        "device_time": reading.device_time.isoformat() if reading.device_time else None,
        "user_index": reading.user_index,
        "flags": dict(reading.flags),
    }


def _reading_from_json(data: dict[str, Any]) -> Reading:
    return Reading(
        kind=Kind(data["kind"]),
        values={k: tuple(v) if isinstance(v, list) else v for k, v in data["values"].items()},
        device_time=datetime.fromisoformat(data["device_time"]) if data["device_time"] else None,
        user_index=data["user_index"],
        flags=data["flags"],
    )
