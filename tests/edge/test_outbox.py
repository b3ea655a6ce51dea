"""The durable outbox: FIFO, deduplication, bounds, and survival across reopen and crash."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from edge.errors import OutboxFullError
from edge.outbox import Outbox
from edge.records import OutboxMessage


def message(n: int, dedup: bool = True, size: int = 10) -> OutboxMessage:
    return OutboxMessage(
        topic="readings",
        key=f"k{n % 3}".encode(),
        value=b"v" * size + str(n).encode(),
        timestamp_ms=1_795_000_000_000 + n,
        dedup_id=f"id{n}" if dedup else None,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_messages_come_out_in_the_order_they_went_in(tmp_path: Path) -> None:
    """peek returns the oldest messages first, unchanged."""
    box = Outbox(tmp_path / "outbox.db")
    sent = [message(n) for n in range(10)]
    assert box.put_many(sent) == 10
    assert [e.message for e in box.peek(100)] == sent
    assert [e.message for e in box.peek(3)] == sent[:3]


def test_acked_messages_are_removed(tmp_path: Path) -> None:
    """Only acknowledged messages leave; the rest stay in order."""
    box = Outbox(tmp_path / "outbox.db")
    box.put_many([message(n) for n in range(5)])
    box.ack(box.peek(2))
    assert [e.message.dedup_id for e in box.peek(10)] == ["id2", "id3", "id4"]
    assert box.stats().depth == 3


def test_a_waiting_duplicate_is_not_stored_twice(tmp_path: Path) -> None:
    """A scale rebroadcasting its reading while the first copy waits adds nothing."""
    box = Outbox(tmp_path / "outbox.db")
    assert box.put(message(1))
    assert not box.put(message(1))
    assert box.stats().depth == 1


def test_a_recently_sent_duplicate_is_not_stored_again(tmp_path: Path) -> None:
    """A rebroadcast after delivery is dropped while the dedup window lasts, then accepted."""
    clock = Clock()
    box = Outbox(tmp_path / "outbox.db", sent_ttl_s=600, clock=clock)
    box.put(message(1))
    box.ack(box.peek())
    clock.now += 300
    assert not box.put(message(1))
    clock.now += 301
    assert box.put(message(1))


def test_messages_without_dedup_id_are_always_stored(tmp_path: Path) -> None:
    """Heartbeats carry no dedup id and are never treated as duplicates."""
    box = Outbox(tmp_path / "outbox.db")
    assert box.put(message(1, dedup=False))
    assert box.put(message(1, dedup=False))
    assert box.stats().depth == 2


def test_contents_survive_reopening(tmp_path: Path) -> None:
    """A restarted gateway finds every message it had not delivered."""
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    box.put_many([message(n) for n in range(4)])
    box.ack(box.peek(1))
    stored_bytes = box.stats().bytes
    box.close()
    reopened = Outbox(path)
    assert [e.message.dedup_id for e in reopened.peek()] == ["id1", "id2", "id3"]
    assert reopened.stats().bytes == stored_bytes


def test_a_put_survives_sigkill(tmp_path: Path) -> None:
    """Once put returns, the message is on disk even if the process dies right after."""
    path = tmp_path / "outbox.db"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from edge.outbox import Outbox\nfrom edge.records import OutboxMessage\n"
        "box = Outbox(Path(sys.argv[1]))\n"
        "for n in range(50):\n"
        "    box.put(OutboxMessage('readings', b'k', b'v%d' % n, n, 'id%d' % n))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert result.returncode == -9
    assert Outbox(path).stats().depth == 50


def test_full_outbox_refuses_the_whole_batch(tmp_path: Path) -> None:
    """Past max_bytes a put raises OutboxFullError and stores nothing of the batch."""
    box = Outbox(tmp_path / "outbox.db", max_bytes=1000)
    box.put_many([message(n, size=100) for n in range(5)])
    before = box.stats()
    with pytest.raises(OutboxFullError) as caught:
        box.put_many([message(n, size=100) for n in range(5, 10)])
    assert caught.value.max_bytes == 1000
    assert caught.value.depth == before.depth
    assert box.stats() == before
    box.ack(box.peek(3))
    assert box.put(message(99, size=100))


def test_filling_up_warns_once_and_recovery_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Crossing the warning level logs one warning; draining below it logs one info line."""
    box = Outbox(tmp_path / "outbox.db", max_bytes=2000, warn_fraction=0.5)
    with caplog.at_level(logging.INFO, logger="edge.outbox"):
        for n in range(12):
            box.put(message(n, size=50))
        box.ack(box.peek(12))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1
    assert "full" in warnings[0].getMessage()
    assert len(infos) == 1


def test_invalid_bound_is_refused(tmp_path: Path) -> None:
    """A zero or negative size bound is a configuration error."""
    with pytest.raises(ValueError, match="max_bytes"):
        Outbox(tmp_path / "outbox.db", max_bytes=0)
