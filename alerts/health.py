"""Liveness and readiness of the alert service: what ``/healthz`` and ``/readyz`` answer (pure).

``/healthz`` says the process serves HTTP. ``/readyz`` says whether the service is doing its
whole job: the case store answers, and the Kafka consumer has partitions of the ``alerts``
topic, fetches from Kafka and stores what it reads. Each check gives a reason a person on
call can act on, and nothing else: no resident, user, address or error message text (an
error's text may name a host or a user), only the error's type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: A consumer whose last successful fetch from Kafka is older than this is not ready
#: (aiokafka fetches every ``fetch_max_wait_ms``, 0.5 s, even when nothing is new).
MAX_FETCH_AGE_S: Final = 30.0


class ConsumerPhase(StrEnum):
    """Where the alert consumer is in its life."""

    STARTING = "starting"  # connecting to Kafka (again after a failure)
    JOINING = "joining"  # connected; waiting for the group to assign partitions
    CONSUMING = "consuming"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """A snapshot of the alert consumer.

    Attributes:
        phase: where it is.
        partitions: partitions of the ``alerts`` topic assigned to it.
        fetch_age_s: seconds since the oldest of its partitions' last successful fetch
            (``None``: no fetch yet).
        store_failures: failed attempts in a row to store the current batch.
        error: the type of the last error connecting to Kafka, while it is not connected.
    """

    phase: ConsumerPhase
    partitions: int = 0
    fetch_age_s: float | None = None
    store_failures: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check: whether it passes, and why not (or what it saw)."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """Every check of ``/readyz``; ready when all pass."""

    checks: Mapping[str, Check]

    @property
    def ready(self) -> bool:
        """Whether every check passes."""
        return all(check.ok for check in self.checks.values())

    def as_dict(self) -> dict[str, object]:
        """The JSON body of ``/readyz``."""
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {
                name: {"ok": check.ok, "reason": check.reason}
                for name, check in self.checks.items()
            },
        }


def database_check(error: str | None) -> Check:
    """The case store answered a query (``error``: the type of what went wrong)."""
    if error is None:
        return Check(True, "the case store answers")
    return Check(False, f"the case store does not answer ({error}); see the service log")


def consumer_check(
    health: ConsumerHealth | None, max_fetch_age_s: float = MAX_FETCH_AGE_S
) -> Check:
    """The consumer reads the ``alerts`` topic into the store (``None``: not consuming)."""
    if health is None:
        return Check(True, "not consuming Kafka (serve --no-consumer)")
    if health.phase is ConsumerPhase.STOPPED:
        return Check(False, "the Kafka consumer has stopped; see the service log")
    if health.phase is ConsumerPhase.STARTING:
        why = f" ({health.error})" if health.error else ""
        return Check(False, f"connecting to Kafka{why}; retrying")
    if health.phase is ConsumerPhase.JOINING or health.partitions == 0:
        return Check(False, "waiting for the consumer group to assign partitions of alerts")
    if health.store_failures:
        return Check(
            False,
            f"storing a batch of alerts failed {health.store_failures} time(s) in a row; "
            "retrying (is the case store up?)",
        )
    if health.fetch_age_s is None:
        return Check(False, "no fetch from Kafka yet")
    if health.fetch_age_s > max_fetch_age_s:
        return Check(
            False,
            f"no fetch from Kafka for {health.fetch_age_s:.0f} s (over {max_fetch_age_s:.0f} s);"
            " is Kafka up?",
        )
    return Check(True, f"consuming {health.partitions} partition(s) of alerts")


def readiness(database_error: str | None, consumer: ConsumerHealth | None) -> Readiness:
    """The answer of ``/readyz``."""
    return Readiness(
        {"database": database_check(database_error), "kafka_consumer": consumer_check(consumer)}
    )
