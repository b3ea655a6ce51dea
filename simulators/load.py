"""The load generator: N virtual devices at a total rate R, straight into Kafka or via MQTT.

* ``into="kafka"`` (stream benchmarks): valid observations -- schema 1, pseudonymous
  subjects, deterministic ids, realistic values -- produced to ``<prefix>readings`` keyed
  by subject, with aiokafka batches built per partition (``create_batch`` /
  ``send_batch``, the same murmur2 partitioner as keyed sends). The messages are made by
  :class:`ObservationFactory`, whose bytes equal ``Observation.to_json()`` (a test checks
  it) but cost a fraction of building and validating an ``Observation`` each time.
* ``into="gateway"``: N Wi-Fi devices publish readings in the gateway's MQTT format at
  QoS 1 to Mosquitto (with the stack's credentials); a gateway must be running and have
  them in its registry (:func:`load_registry_toml`). The report says what was published
  and acknowledged by the broker.

Both report the rate actually achieved, not the one asked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from carepulse.observation import format_time
from carepulse.pseudonym import pseudonymise

logger = logging.getLogger(__name__)

#: Load-generator station and secret (simulation only).
LOAD_STATION: Final = "st-load"
LOAD_SECRET: Final = b"simulation-only-secret-load-generator"
#: Device kinds cycled over the virtual devices, with their observation kind.
_KINDS: Final = (
    ("hr_band", "heart_rate"),
    ("bp_meter", "blood_pressure"),
    ("scale", "weight"),
    ("oximeter", "spo2"),
    ("thermometer", "temperature"),
)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load run achieved.

    Attributes:
        into: ``kafka`` or ``gateway``.
        devices: virtual devices.
        target_rate: the rate asked for (observations/s).
        sent: observations handed to the client.
        acknowledged: observations the broker acknowledged.
        seconds: wall time from the first send to the last acknowledgement.
        topic: where they went.
    """

    into: str
    devices: int
    target_rate: float
    sent: int
    acknowledged: int
    seconds: float
    topic: str

    @property
    def achieved_rate(self) -> float:
        """Acknowledged observations per second."""
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "into": self.into,
            "devices": self.devices,
            "target_rate": self.target_rate,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "seconds": round(self.seconds, 3),
            "achieved_rate": round(self.achieved_rate, 1),
            "topic": self.topic,
        }


class ObservationFactory:
    """Valid observation JSON for N virtual devices, fast (pure).

    Device ``i`` belongs to resident ``L<i>`` of :data:`LOAD_STATION`; its subject is that
    resident's pseudonym. Each call of :meth:`next` gives the next device's next reading,
    ``measured_at`` advancing one second per round over all devices, so every message
    has a distinct id.
    """

    def __init__(self, devices: int, *, start: datetime | None = None, source: str = "sim") -> None:
        self.devices = devices
        self.start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.source = source
        self._n = 0
        self._device_ids = [f"load-{i:06d}" for i in range(devices)]
        self._subjects = [pseudonymise(f"L{i:06d}", LOAD_SECRET) for i in range(devices)]
        self._keys = [s.encode() for s in self._subjects]

    def _values(self, kind: str, n: int) -> dict[str, float]:
        wobble = (n * 7919) % 11 - 5
        if kind == "heart_rate":
            return {"heart_rate_bpm": float(72 + wobble)}
        if kind == "blood_pressure":
            return {"systolic_mmhg": float(128 + wobble), "diastolic_mmhg": float(80 + wobble)}
        if kind == "weight":
            return {"weight_kg": round(65.0 + wobble / 10, 1)}
        if kind == "spo2":
            return {"spo2_percent": float(97 + wobble % 3)}
        return {"temperature_c": round(36.5 + wobble / 50, 2)}

    def next(self) -> tuple[bytes, bytes]:
        """The next (key, value) pair."""
        n = self._n
        self._n += 1
        index = n % self.devices
        device_kind, kind = _KINDS[index % len(_KINDS)]
        device_id = self._device_ids[index]
        measured = format_time(self.start + timedelta(seconds=n // self.devices))
        received = measured
        values = self._values(kind, n)
        canonical = json.dumps(
            [device_id, kind, measured, dict(sorted(values.items()))],
            separators=(",", ":"),
            sort_keys=True,
        )
        observation_id = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        body = {
            "schema": 1,
            "observation_id": observation_id,
            "station_id": LOAD_STATION,
            "subject_id": self._subjects[index],
            "device_id": device_id,
            "device_kind": device_kind,
            "kind": kind,
            "values": values,
            "measured_at": measured,
            "received_at": received,
            "source": self.source,
            "flags": {},
        }
        return self._keys[index], json.dumps(body, separators=(",", ":")).encode()


async def load_kafka(
    *,
    bootstrap: str,
    topic: str,
    devices: int,
    rate: float,
    duration_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> LoadReport:
    """Produce ``rate * duration_s`` observations at ``rate``/s from ``devices`` devices.

    All of them are sent; when the machine cannot keep up the run takes longer than
    ``duration_s`` and the report's rate says so.
    """
    factory = ObservationFactory(devices)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        client_id="carepulse-load",
    )
    await producer.start()
    sent = acknowledged = 0
    pending: dict[asyncio.Future[Any], int] = {}
    partitioner = DefaultPartitioner()

    async def flush(batch: Any, partition: int) -> None:
        pending[await producer.send_batch(batch, topic, partition=partition)] = batch.record_count()

    try:
        partitions = sorted(await producer.partitions_for(topic))
        started = clock()
        tick = 0.01
        total = int(rate * duration_s)
        while sent < total:  # past duration_s only when the machine cannot keep up
            elapsed = clock() - started
            due = min(int(rate * (elapsed + tick)), total) - sent
            batches: dict[int, Any] = {}
            for _ in range(max(due, 0)):
                key, value = factory.next()
                partition = partitioner(key, partitions, partitions)
                batch = batches.get(partition)
                if batch is None:
                    batch = batches[partition] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    await flush(batch, partition)
                    batch = batches[partition] = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                sent += 1
            for partition, batch in batches.items():
                if batch.record_count():
                    await flush(batch, partition)
            for future in [f for f in pending if f.done()]:
                future.result()
                acknowledged += pending.pop(future)
            rest = tick - (clock() - started - elapsed)
            if rest > 0:
                await asyncio.sleep(rest)
        await asyncio.gather(*pending)
        acknowledged += sum(pending.values())
        seconds = clock() - started
    finally:
        await producer.stop()
    return LoadReport("kafka", devices, rate, sent, acknowledged, seconds, topic)


def load_registry_toml(devices: int) -> str:
    """A gateway registry for the MQTT load devices (``wifi-load-<i>`` scales)."""
    lines = ["[station]", f'id = "{LOAD_STATION}"']
    for i in range(devices):
        lines += [
            "[[devices]]",
            f'id = "wifi-load-{i:05d}"',
            'kind = "scale"',
            'transport = "mqtt"',
            f'resident = "L{i:06d}"',
        ]
    return "\n".join(lines) + "\n"
