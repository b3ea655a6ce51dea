"""The storage sink's offset discipline against fakes, and its points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.config import StreamSettings
from stream.messages import Valid, metric_message
from stream.sink import StorageSink, backoff_delay
from stream.sink_points import METRICS, READINGS, SinkPoint, metric_point, reading_point
from tests.stream.factories import T0, MakeObservation

VALID = "readings.valid"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass
class FakeSource:
    """A consumer over a fixed list of records, recording commits and pauses."""

    records: list[Record]
    position: int = 0
    commits: list[dict[str, int]] = field(default_factory=list)
    paused: bool = False
    polls_while_paused: int = 0

    async def getmany(
        self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[Any, Sequence[Any]]:
        if self.paused:
            self.polls_while_paused += 1
            return {}
        batch = self.records[self.position : self.position + (max_records or 10)]
        self.position += len(batch)
        out: dict[str, list[Record]] = {}
        for record in batch:
            out.setdefault(f"{record.topic}:{record.partition}", []).append(record)
        return out

    async def commit(self, offsets: Mapping[Any, int] | None = None) -> None:
        self.commits.append(dict(offsets or {}))

    def pause(self, *partitions: Any) -> None:
        self.paused = True

    def resume(self, *partitions: Any) -> None:
        self.paused = False

    def assignment(self) -> set[str]:
        return {"p0"}


@dataclass
class FlakyWriter:
    """Fails ``failures`` times, then stores; records what the source had committed."""

    source: FakeSource
    failures: int = 0
    stored: list[SinkPoint] = field(default_factory=list)
    commits_seen_at_write: list[int] = field(default_factory=list)

    async def write(self, points: Sequence[SinkPoint]) -> None:
        if self.failures:
            self.failures -= 1
            msg = "InfluxDB is down"
            raise ConnectionError(msg)
        self.commits_seen_at_write.append(len(self.source.commits))
        self.stored.extend(points)


def records(make_obs: MakeObservation, count: int) -> list[Record]:
    out = []
    for n in range(count):
        obs = make_obs("heart_rate", {"heart_rate_bpm": 60 + n})
        out.append(Record(VALID, 0, n, Valid(obs, T0.timestamp(), None, 0, n).to_json()))
    return out


async def test_commits_only_after_the_write_returned(make_obs: MakeObservation) -> None:
    """Each batch is committed after its points are stored, at the next offset to read."""
    source = FakeSource(records(make_obs, 5))
    writer = FlakyWriter(source)
    sink = StorageSink(source, writer, VALID, batch_size=2)
    while await sink.run_once():
        pass
    assert source.commits == [
        {"readings.valid:0": 2},
        {"readings.valid:0": 4},
        {"readings.valid:0": 5},
    ]
    assert writer.commits_seen_at_write == [0, 1, 2]
    assert len(writer.stored) == 5


async def test_outage_backs_off_and_loses_nothing(
    make_obs: MakeObservation, monkeypatch: Any
) -> None:
    """While writes fail: no commit, partitions paused and polled; then everything is stored."""
    source = FakeSource(records(make_obs, 3))
    writer = FlakyWriter(source, failures=4)
    sink = StorageSink(source, writer, VALID, batch_size=10, max_backoff_s=0.001)
    assert await sink.run_once() == 3
    assert source.polls_while_paused == 4
    assert not source.paused
    assert source.commits == [{"readings.valid:0": 3}]
    assert writer.commits_seen_at_write == [0]
    assert sorted(p.line for p in writer.stored) == sorted(
        p.line for p in (reading_point(r.value) for r in source.records) if p
    )
    assert sink.stats.retries == 4


def test_backoff_doubles_up_to_the_cap() -> None:
    """Delays double from half a second and stop at the cap."""
    assert [backoff_delay(n, 0.5, 4.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_reading_point_uses_the_event_time(make_obs: MakeObservation) -> None:
    """A reading is written at the event time chosen by ingest, as floats, with its tags."""
    obs = make_obs("blood_pressure", {"systolic_mmhg": 138, "diastolic_mmhg": 88.0})
    point = reading_point(Valid(obs, T0.timestamp() + 1.5, None, 0, 0).to_json())
    assert point is not None
    assert point.role == READINGS
    assert point.line.startswith("reading,")
    assert "systolic_mmhg=138.0" in point.line
    assert point.line.endswith(f" {int(T0.timestamp() * 1000) + 1500}")


def test_metric_point_upserts_on_window_start() -> None:
    """A window update is a point at its start; std and last ride along as fields."""
    raw = metric_message(
        metric="window",
        station_id="st-001",
        subject_id="0123456789abcdef0123456789abcdef",
        kind="heart_rate",
        window="1h",
        start=T0.timestamp(),
        end=T0.timestamp() + 3600,
        values={
            "heart_rate_bpm": {
                "count": 2,
                "min": 70.0,
                "max": 80.0,
                "mean": 75.0,
                "std": 7.07,
                "last": 80.0,
            }
        },
        updated_at=T0.timestamp(),
    )
    point = metric_point(raw)
    assert point is not None
    assert point.role == METRICS
    assert "window=1h" in point.line
    for field_text in (
        "heart_rate_bpm_mean=75.0",
        "heart_rate_bpm_count=2.0",
        "heart_rate_bpm_std=7.07",
    ):
        assert field_text in point.line
    assert point.line.endswith(f" {int(T0.timestamp() * 1000)}")
    day = metric_point(
        raw.replace(b'"window":"1h"', b'"window":"local_day"').replace(
            b'"heart_rate_bpm":{', b'"x":1,"heart_rate_bpm":{'
        )
    )
    assert day is not None
    assert "window=1d" in day.line


def test_skipped_windows_are_not_stored_and_the_default_skips_minutes() -> None:
    """A 1-minute window (a spot reading repeated) is left out; an hour window is kept."""
    raw = metric_message(
        metric="window",
        station_id="st-001",
        subject_id="0123456789abcdef0123456789abcdef",
        kind="heart_rate",
        window="1m",
        start=T0.timestamp(),
        end=T0.timestamp() + 60,
        values={"heart_rate_bpm": {"count": 1, "min": 70.0, "max": 70.0, "mean": 70.0}},
        updated_at=T0.timestamp(),
    )
    skip = StreamSettings.load().skipped_windows
    assert skip == frozenset({"1m"})
    assert metric_point(raw, skip) is None
    assert metric_point(raw) is not None
    hour = raw.replace(b'"window":"1m"', b'"window":"1h"')
    assert metric_point(hour, skip) is not None
    assert StreamSettings.load(sink_skip_windows="").skipped_windows == frozenset()
