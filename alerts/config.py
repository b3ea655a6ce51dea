"""Settings of the alert service (env prefix ``CAREPULSE_``), built once in ``main``."""

from __future__ import annotations

import secrets
from datetime import time
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, model_validator

from alerts.lifecycle import DEFAULT_POLICY, Policy, QuietHours
from carepulse.alert import Severity
from carepulse.settings import KafkaSettings, state_dir


def default_state() -> Path:
    """The alert service's folder under the stack's state folder."""
    return state_dir() / "alerts"


def default_database_url() -> str:
    """The embedded default: one SQLite file in the state folder."""
    return f"sqlite:///{default_state() / 'cases.sqlite3'}"


class AlertsSettings(KafkaSettings):
    """The alert service: case store, web address, session secret, timings, quiet hours."""

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the case store (sqlite:///... or postgresql+psycopg://...).",
    )
    session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs session cookies; empty: a file in the state folder made on first start.",
    )
    listen_host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    listen_port: int = Field(default=8400, ge=0, le=65535, description="Port of the web app.")
    consumer_group: str = Field(default="carepulse-alerts", description="Kafka consumer group.")
    escalation_minutes: dict[Severity, int] = Field(
        default_factory=lambda: dict(DEFAULT_POLICY.escalation_minutes),
        description="Minutes per escalation step by severity (0: never escalate).",
    )
    escalation_minutes_by_rule: dict[str, int] = Field(
        default_factory=dict, description='Per-rule escalation step, e.g. {"news2.high": 5}.'
    )
    max_escalation_level: int = Field(default=DEFAULT_POLICY.max_escalation_level, ge=0, le=5)
    ack_timeout_minutes: dict[Severity, int] = Field(
        default_factory=lambda: dict(DEFAULT_POLICY.ack_timeout_minutes),
        description="Minutes an acknowledged case may sit without activity before it re-opens.",
    )
    response_minutes: dict[Severity, int] = Field(
        default_factory=lambda: dict(DEFAULT_POLICY.response_minutes),
        description="Target response by severity; an open case older than this is overdue.",
    )
    referral_follow_up_days: int = Field(default=14, ge=1, le=365)
    quiet_hours_start: time | None = Field(
        default=time(21, 0), description="Start of quiet hours, local time (none: no quiet hours)."
    )
    quiet_hours_end: time | None = Field(default=time(8, 0), description="End of quiet hours.")
    timezone: str = Field(default="Asia/Shanghai", description="Local time zone of the stations.")
    timer_interval_s: float = Field(default=30.0, gt=0, description="How often timers are checked.")
    session_max_age_s: int = Field(
        default=8 * 3600,
        ge=60,
        description="Idle sign-out after this many seconds.",
    )
    secure_cookies: bool = Field(default=False, description="Mark cookies Secure (behind HTTPS).")

    @model_validator(mode="after")
    def _check(self) -> Self:
        ZoneInfo(self.timezone)  # raises for an unknown zone name
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            msg = "set both CAREPULSE_QUIET_HOURS_START and CAREPULSE_QUIET_HOURS_END, or neither"
            raise ValueError(msg)
        return self

    @property
    def state_path(self) -> Path:
        """The alert service's state folder (SQLite file, session secret)."""
        return default_state()

    def policy(self) -> Policy:
        """The lifecycle timings these settings describe."""
        return Policy(
            # A partial map from the environment only overrides the severities it names.
            escalation_minutes={**DEFAULT_POLICY.escalation_minutes, **self.escalation_minutes},
            max_escalation_level=self.max_escalation_level,
            ack_timeout_minutes={**DEFAULT_POLICY.ack_timeout_minutes, **self.ack_timeout_minutes},
            response_minutes={**DEFAULT_POLICY.response_minutes, **self.response_minutes},
            escalation_minutes_by_rule=dict(self.escalation_minutes_by_rule),
            referral_follow_up_days=self.referral_follow_up_days,
        )

    def quiet_hours(self) -> QuietHours | None:
        """Quiet hours in the stations' time zone, or ``None``."""
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        return QuietHours(self.quiet_hours_start, self.quiet_hours_end, ZoneInfo(self.timezone))

    def secret_key(self) -> str:
        """The session-signing secret: configured, else one kept in the state folder."""
        configured = self.session_secret.get_secret_value()
        if configured:
            return configured
        path = self.state_path / "session-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()
