"""The gateway's durable outbox: every message is on disk before anyone is told it was taken.

Sources (BLE, MQTT) put observations, dead letters and heartbeats here; the uplink drains
it to Kafka in order and deletes only what Kafka acknowledged. The outbox is one SQLite
database in WAL mode in the gateway's state folder, so a gateway killed with SIGKILL, a
Kafka outage of hours, or a reboot loses nothing that was put.

* ``put`` commits before it returns (``synchronous=FULL`` by default, so a power cut after
  the return cannot undo it). A message whose ``dedup_id`` is already waiting, or was sent
  within ``sent_ttl_s``, is not stored again: scales rebroadcast their final reading for a
  while and the same measurement must not travel twice.
* The outbox is bounded (``max_bytes``). Past ``warn_fraction`` of it, each put logs a
  warning with the depth; when full, ``put`` raises ``OutboxFullError`` and the caller keeps
  the reading where it came from (a device's record store, an unacknowledged MQTT message).
* ``peek`` returns the oldest messages without removing them; ``ack`` removes them after
  Kafka acknowledged them and remembers their ``dedup_id`` for ``sent_ttl_s``.

The class is synchronous and cheap (a put is one small transaction); asyncio callers run it
directly — the commit costs well under a millisecond on local disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from edge.errors import OutboxFullError
from edge.records import OutboxMessage

logger = logging.getLogger(__name__)

Synchronous = Literal["FULL", "NORMAL"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT    NOT NULL,
    key          BLOB,
    value        BLOB    NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    dedup_id     TEXT UNIQUE,
    size         INTEGER NOT NULL,
    enqueued_at  REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    dedup_id TEXT PRIMARY KEY,
    sent_at  REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_by_age ON sent (sent_at);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A stored message with its position in the outbox."""

    seq: int
    message: OutboxMessage


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """How full the outbox is."""

    depth: int
    bytes: int
    max_bytes: int
    oldest_enqueued_at: float | None


class Outbox:
    """A bounded, durable FIFO of Kafka messages in a SQLite WAL database."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 1 << 30,
        warn_fraction: float = 0.8,
        sent_ttl_s: float = 24 * 3600.0,
        synchronous: Synchronous = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            msg = f"outbox max_bytes must be positive, got {max_bytes}"
            raise ValueError(msg)
        self.path = path
        self.max_bytes = max_bytes
        self.warn_bytes = int(max_bytes * warn_fraction)
        self.sent_ttl_s = sent_ttl_s
        self._now = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        self._bytes = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox").fetchone()[0]
        self._warned = False

    def close(self) -> None:
        """Close the database (the data stays)."""
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def put(self, message: OutboxMessage) -> bool:
        """Store one message durably; False when it is a duplicate and was not stored."""
        return self.put_many([message]) == 1

    def put_many(self, messages: Sequence[OutboxMessage]) -> int:
        """Store messages in one transaction; return how many were new.

        Raises:
            OutboxFullError: storing them would exceed ``max_bytes``; none are stored.
        """
        incoming = sum(_size(m) for m in messages)
        if self._bytes + incoming > self.max_bytes:
            msg = (
                f"outbox {self.path} is full ({self._bytes} of {self.max_bytes} bytes): "
                "Kafka has been unreachable for long; check the uplink, or raise "
                "CAREPULSE_OUTBOX_MAX_BYTES if the disk allows"
            )
            raise OutboxFullError(msg, depth=self.stats().depth, max_bytes=self.max_bytes)
        now = self._now()
        stored = 0
        added_bytes = 0
        with _transaction(self._db):
            for m in messages:
                if m.dedup_id is not None and self._recently_sent(m.dedup_id, now):
                    continue
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox"
                    " (topic, key, value, timestamp_ms, dedup_id, size, enqueued_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (m.topic, m.key, m.value, m.timestamp_ms, m.dedup_id, _size(m), now),
                )
                if cursor.rowcount:
                    stored += 1
                    added_bytes += _size(m)
        self._bytes += added_bytes
        if self._bytes >= self.warn_bytes and not self._warned:
            self._warned = True
            logger.warning(
                "outbox %s is %.0f%% full (%d bytes): Kafka is not draining it",
                self.path,
                100.0 * self._bytes / self.max_bytes,
                self._bytes,
            )
        return stored

    def peek(self, limit: int = 500) -> list[OutboxEntry]:
        """The oldest ``limit`` messages, in the order they were put."""
        rows = self._db.execute(
            "SELECT seq, topic, key, value, timestamp_ms, dedup_id FROM outbox"
            " ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxEntry(row[0], OutboxMessage(*row[1:])) for row in rows]

    def ack(self, entries: Iterable[OutboxEntry]) -> None:
        """Remove messages Kafka acknowledged and remember their dedup ids for a while."""
        entries = list(entries)
        if not entries:
            return
        now = self._now()
        with _transaction(self._db):
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(e.seq,) for e in entries])
            self._db.executemany(
                "INSERT OR REPLACE INTO sent (dedup_id, sent_at) VALUES (?, ?)",
                [(e.message.dedup_id, now) for e in entries if e.message.dedup_id is not None],
            )
            self._db.execute("DELETE FROM sent WHERE sent_at < ?", (now - self.sent_ttl_s,))
        self._bytes -= sum(_size(e.message) for e in entries)
        if self._warned and self._bytes < self.warn_bytes:
            self._warned = False
            logger.info(
                "outbox %s drained below the warning level (%d bytes)", self.path, self._bytes
            )

    def stats(self) -> OutboxStats:
        """Depth, bytes and the age of the oldest message."""
        depth, oldest = self._db.execute("SELECT COUNT(*), MIN(enqueued_at) FROM outbox").fetchone()
        return OutboxStats(
            depth=depth, bytes=self._bytes, max_bytes=self.max_bytes, oldest_enqueued_at=oldest
        )

    def _recently_sent(self, dedup_id: str, now: float) -> bool:
        row = self._db.execute(
            "SELECT sent_at FROM sent WHERE dedup_id = ?", (dedup_id,)
        ).fetchone()
        return row is not None and row[0] >= now - self.sent_ttl_s


def _size(message: OutboxMessage) -> int:
    return len(message.value) + len(message.key or b"") + len(message.topic) + 64


class _transaction:  # used like a function: `with _transaction(db):`
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
