"""The stream worker's settings: environment variables with the ``CAREPULSE_`` prefix.

Built once in ``stream.__main__`` / ``carepulse worker`` and passed to
:func:`stream.app.create_app`; nothing reads the environment at import time.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import Field

from carepulse.errors import ConfigError
from carepulse.settings import InfluxSettings, KafkaSettings
from stream.plausibility import DEFAULT_RANGES, parse_ranges
from stream.residents import Residents, parse_residents
from stream.rules.config import RuleSet, default_rules, load_rules

_STORE = "store"
_PLAUSIBILITY = "plausibility_file"
#: Packages that give Faust a RocksDB store (``rocksdb://``).
ROCKSDB_DRIVERS = ("rocksdict", "rocksdb")


def rocksdb_available() -> bool:
    """Whether a RocksDB driver for Faust is importable in this environment."""
    return any(importlib.util.find_spec(name) is not None for name in ROCKSDB_DRIVERS)


class StreamSettings(KafkaSettings, InfluxSettings):
    """Everything the stream worker is configured by."""

    app_id: str = Field(default="carepulse-stream", description="Faust app id (consumer group).")
    rules_file: Path | None = Field(default=None, description="Rules TOML; packaged defaults.")
    residents_file: Path | None = Field(
        default=None, description="Per-resident TOML (cohorts, no-check-in days, overrides)."
    )
    plausibility_file: Path | None = Field(
        default=None, description="TOML table {value_name = [low, high]} over the defaults."
    )
    store: str = Field(default="memory://", description="Faust table store URL.")
    datadir: Path | None = Field(default=None, description="Faust data directory.")
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_enabled: bool = Field(default=False, description="Faust's web server (/performance/).")
    # Late data, per window size: a reading may still update its window this long after
    # the window ended (wall clock). Hour and day windows cover a device that syncs its
    # stored readings two days later; minute windows serve the live view only.
    grace_minute_s: float = Field(default=3600.0, gt=0)
    grace_hour_s: float = Field(default=2 * 86400.0, gt=0)
    grace_day_s: float = Field(default=2 * 86400.0, gt=0)
    # Dedup: observation ids are remembered this long (covers gateway resends and a
    # device that re-syncs its memory within a week).
    dedup_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    dedup_prune_interval_s: float = Field(default=300.0, gt=0)
    # Device-clock sanity (same bounds as the gateway).
    clock_max_future_s: float = Field(default=300.0, gt=0)
    clock_max_past_s: float = Field(default=365 * 86400.0, gt=0)
    # Stations' UTC offset (China: +8 h, no daylight saving): local days and BP sessions.
    utc_offset_hours: float = Field(default=8.0, ge=-12, le=14)
    # Risk.
    freshness_s: float = Field(default=3600.0, gt=0)
    rest_s: float = Field(default=600.0, gt=0)
    # Watchdog.
    no_checkin_days: float = Field(default=7.0, gt=0)
    device_offline_hours: float = Field(default=24.0, gt=0)
    device_offline_hours_by_kind: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = (
        Field(
            default_factory=dict,
            description=(
                'JSON map device kind -> hours, e.g. {"scale": 72}: a device used once a day is '
                "silent a day between readings. Kinds not named use device_offline_hours."
            ),
        )
    )
    watchdog_interval_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    # Simulations only: simulated seconds per wall second. Above 1 the watchdog measures
    # silences on the gateway's clock (receipt times, heartbeats) times this factor.
    watchdog_time_scale: float = Field(default=1.0, ge=1.0, allow_inf_nan=False)
    # Throughput: alerts leave with their observation; windows (metrics messages), table
    # changelogs and the sink's forwards are coalesced over flush_interval_s (or
    # flush_max_events), and at the latest by the next commit, which writes them before
    # it commits the offsets.
    # 0 flushes after every observation.
    flush_interval_s: float = Field(default=0.25, ge=0)
    flush_max_events: int = Field(default=20_000, ge=1)
    stream_buffer_maxsize: int = Field(default=4096, ge=1)
    # Python's cyclic GC: the tables hold many small dicts, so the default thresholds make
    # the collector walk them every few hundred allocations (~30 % of the pipeline's
    # time). 0 keeps Python's default.
    gc_threshold: int = Field(default=200_000, ge=0)
    producer_linger_ms: int = Field(default=5, ge=0)
    producer_max_batch_size: int = Field(default=262144, ge=1024)
    producer_compression: str = Field(
        default="", description="Producer compression (gzip, lz4...; empty: none)."
    )
    # Storage sink.
    sink_enabled: bool = True
    sink_batch_size: int = Field(default=2000, ge=1)
    sink_batch_timeout_ms: int = Field(default=500, ge=1)
    sink_max_backoff_s: float = Field(default=30.0, gt=0)
    sink_skip_windows: str = Field(
        default="1m",
        description=(
            "Window sizes sent on the metrics topic but not stored (comma list; empty: store "
            "all). A spot reading is alone in its minute, so its 1-minute window repeats it."
        ),
    )

    @property
    def skipped_windows(self) -> frozenset[str]:
        """``sink_skip_windows`` as a set of window labels."""
        return frozenset(w.strip() for w in self.sink_skip_windows.split(",") if w.strip())

    def offline_hours(self, device_kind: str | None) -> float:
        """How long a device of ``device_kind`` may be silent before it is offline."""
        if device_kind is None:
            return self.device_offline_hours
        return self.device_offline_hours_by_kind.get(device_kind, self.device_offline_hours)

    @property
    def utc_offset_s(self) -> float:
        """The stations' UTC offset in seconds."""
        return self.utc_offset_hours * 3600.0

    @property
    def valid_topic(self) -> str:
        """The internal topic of validated, deduplicated observations."""
        return f"{self.topic_prefix}readings.valid"

    @property
    def owner_topic(self) -> str:
        """The internal topic saying which resident a device belongs to."""
        return f"{self.topic_prefix}devices.owner"

    def load_rules(self) -> RuleSet:
        """The rules file in force (packaged defaults without ``rules_file``)."""
        return default_rules() if self.rules_file is None else load_rules(self.rules_file)

    def load_residents(self, rules: RuleSet) -> Residents:
        """The residents file, or nobody."""
        if self.residents_file is None:
            return Residents()
        return parse_residents(self.residents_file.read_text(encoding="utf-8"), rules)

    def load_ranges(self) -> dict[str, tuple[float, float]]:
        """Plausibility ranges: defaults, overridden by ``plausibility_file``."""
        if self.plausibility_file is None:
            return dict(DEFAULT_RANGES)
        try:
            return parse_ranges(tomllib.loads(self.plausibility_file.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            msg = f"{self.plausibility_file}: {exc}"
            raise ConfigError(_PLAUSIBILITY, msg) from exc

    def check_store(self) -> None:
        """Refuse ``rocksdb://`` when no RocksDB driver is installed.

        Raises:
            ConfigError: naming CAREPULSE_STORE.
        """
        if self.store.startswith("rocksdb") and not rocksdb_available():
            msg = (
                "CAREPULSE_STORE=rocksdb:// needs rocksdict (faust-streaming[rocksdict]), which "
                "is not installed; use memory:// (tables are rebuilt from their changelogs)"
            )
            raise ConfigError(_STORE, msg)
