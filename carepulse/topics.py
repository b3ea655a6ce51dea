"""Names of the pipeline's Kafka topics (scripts/stack creates the same five)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """The pipeline's topics under one configurable prefix."""

    readings: str
    rejected: str
    metrics: str
    alerts: str
    #: gateway and device heartbeats (last seen, battery, outbox depth), keyed by station
    heartbeats: str

    @classmethod
    def with_prefix(cls, prefix: str = "") -> Topics:
        """Topic names as prefix + name: ``with_prefix("s1.").readings == "s1.readings"``."""
        return cls(
            readings=f"{prefix}readings",
            rejected=f"{prefix}readings.rejected",
            metrics=f"{prefix}metrics",
            alerts=f"{prefix}alerts",
            heartbeats=f"{prefix}heartbeats",
        )

    def all(self) -> tuple[str, ...]:
        """Every topic, in the order the stack script creates them."""
        return (self.readings, self.rejected, self.metrics, self.alerts, self.heartbeats)
