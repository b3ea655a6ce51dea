"""Settings of the storage layer (environment ``CAREPULSE_*``, then the stack's env file)."""

from __future__ import annotations

from pydantic import Field

from carepulse.settings import InfluxSettings


class StorageSettings(InfluxSettings):
    """Buckets, retention, writer tuning and report time zone.

    ``influx_bucket`` (inherited, default ``readings``) holds the raw readings;
    ``metrics_bucket`` holds window aggregates, the daily downsampled series and alert
    annotations, kept longer.
    """

    metrics_bucket: str = Field(default="metrics", description="Window aggregates and alerts.")
    readings_retention_days: int = Field(
        default=90, ge=0, description="Raw readings are kept this long (0 = forever)."
    )
    readings_shard_group_days: int = Field(
        default=7,
        ge=0,
        description="Shard-group length of the readings bucket (0 = InfluxDB's default, 1 day "
        "for a 90-day retention; 7 days stores a reading in a fifth of the disk, measured).",
    )
    metrics_retention_days: int = Field(
        default=730, ge=0, description="Aggregates and alerts are kept this long (0 = forever)."
    )
    write_batch_size: int = Field(
        default=5000, ge=1, description="Lines per write request (InfluxData advise ~5000)."
    )
    write_flush_interval_s: float = Field(
        default=1.0, gt=0, description="A partial batch is written after this long."
    )
    write_buffer_points: int = Field(
        default=50_000,
        ge=1,
        description="Points buffered per bucket before write() makes its caller wait.",
    )
    write_max_in_flight: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Write requests in flight per bucket (batches with the same point wait).",
    )
    write_retry_base_s: float = Field(default=0.5, gt=0, description="First retry delay ceiling.")
    write_retry_cap_s: float = Field(default=30.0, gt=0, description="Largest retry delay.")
    write_gzip_level: int = Field(
        default=1, ge=0, le=9, description="gzip level of write bodies (0 = no gzip)."
    )
    write_timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    report_timezone: str = Field(
        default="Asia/Shanghai", description="Days and 'morning' in reports are local to this zone."
    )

    def retention_seconds(self, bucket: str) -> int:
        """The configured retention of ``bucket`` in seconds (0 = forever)."""
        days = (
            self.readings_retention_days
            if bucket == self.influx_bucket
            else self.metrics_retention_days
        )
        return days * 86_400
