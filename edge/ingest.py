"""The gateway's decision for one payload: decode, map, assign, pseudonymise (pure).

Every BLE notification, advert and MQTT message ends here and leaves as exactly one of:

* :class:`Accepted` — an observation and its ``readings`` message for the outbox;
* :class:`Rejected` — a dead letter for ``readings.rejected`` (bytes that do not decode, a
  frame with no usable value, a value the observation contract refuses), with the reason;
* :class:`HeldReading` — a good reading nobody can be sure is whose (a shared scale); it
  waits for a person to assign it;
* :class:`Ignored` — nothing to send and nothing wrong (a settling scale, no skin contact);
* :class:`Unknown` — a device that is not in the registry (counted, otherwise ignored:
  a station hears its neighbours' phones and bands all day).

``Ingest.counters`` counts each outcome (and each rejection reason) for the heartbeat.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from carepulse.errors import ObservationError
from carepulse.observation import Observation, Source
from carepulse.pseudonym import pseudonymise
from carepulse.topics import Topics
from edge.decoders import decode
from edge.decoders.base import JsonDict
from edge.errors import DecodeError
from edge.readings import Reading, Skip, Unusable, apply_unit_overrides, reading_from
from edge.records import (
    OutboxMessage,
    Rejection,
    check_clock,
    observation_message,
    rejection_message,
)
from edge.registry import Assigned, Device, Registry


@dataclass(frozen=True, slots=True)
class Accepted:
    """A reading that becomes an observation."""

    observation: Observation
    message: OutboxMessage


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that goes to the dead-letter topic."""

    rejection: Rejection
    message: OutboxMessage


@dataclass(frozen=True, slots=True)
class HeldReading:
    """A good reading waiting for a person to say whose it is."""

    device_id: str
    reading: Reading
    received_at: datetime
    source: Source
    reason: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """Nothing to send."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """The device is not registered."""

    device_id: str


Outcome = Accepted | Rejected | HeldReading | Ignored | Unknown
_O = TypeVar("_O", Accepted, Rejected, HeldReading, Ignored, Unknown)


class Ingest:
    """Turns payloads from registered devices into outbox messages."""

    def __init__(self, registry: Registry, station_secret: bytes, topics: Topics) -> None:
        self.registry = registry
        self.topics = topics
        self._secret = station_secret
        self._pseudonyms: dict[str, str] = {}
        self.counters: Counter[str] = Counter()

    def payload(
        self,
        device_id: str,
        name: str,
        payload: bytes,
        *,
        received_at: datetime,
        source: Source,
    ) -> Outcome:
        """Decode a characteristic value or advert of ``name`` from ``device_id``."""
        device = self.registry.lookup(device_id)
        if device is None:
            return self._count(Unknown(device_id))
        try:
            fields = decode(name, payload).as_dict()
        except DecodeError as exc:
            return self._reject(
                device, source, received_at, exc.reason, payload, field=exc.field, name=name
            )
        return self.fields(
            device_id, name, fields, raw=payload, received_at=received_at, source=source
        )

    def fields(
        self,
        device_id: str,
        name: str,
        fields: JsonDict,
        *,
        raw: bytes,
        received_at: datetime,
        source: Source,
    ) -> Outcome:
        """Map already-decoded fields (``carepulse decode`` names) of ``name``."""
        device = self.registry.lookup(device_id)
        if device is None:
            return self._count(Unknown(device_id))
        if device.units:
            fields = apply_unit_overrides(fields, device.units)
        outcome = reading_from(name, fields)
        if isinstance(outcome, Skip):
            return self._count(Ignored(outcome.reason))
        if isinstance(outcome, Unusable):
            return self._reject(
                device, source, received_at, outcome.reason, raw, field=outcome.field, name=name
            )
        weight = outcome.values.get("weight_kg")
        owner = self.registry.resident_for(
            device,
            user_index=outcome.user_index,
            weight_kg=weight if isinstance(weight, int | float) else None,
        )
        if not isinstance(owner, Assigned):
            return self._count(HeldReading(device.id, outcome, received_at, source, owner.reason))
        return self.assign(device, owner.resident, outcome, received_at, source, raw=raw, name=name)

    def assign(
        self,
        device: Device,
        resident: str,
        reading: Reading,
        received_at: datetime,
        source: Source,
        *,
        raw: bytes = b"",
        name: str | None = None,
    ) -> Accepted | Rejected:
        """Make the observation of a reading whose resident is known."""
        measured_at = (
            reading.device_time.replace(tzinfo=device.timezone)
            if reading.device_time is not None
            else received_at
        )
        flags = dict(reading.flags)
        if check_clock(measured_at, received_at).device_clock_suspect:
            flags["device_clock_suspect"] = True
        try:
            observation = Observation.create(
                station_id=self.registry.station_id,
                subject_id=self._pseudonym(resident),
                device_id=device.id,
                device_kind=device.kind,
                kind=reading.kind,
                values=reading.values,
                measured_at=measured_at,
                received_at=received_at,
                source=source,
                flags=flags,
            )
        except ObservationError as exc:
            return self._reject(
                device, source, received_at, exc.reason, raw, field=exc.field, name=name
            )
        except OverflowError:
            # A device stamp near year 1 or 9999 cannot be moved to UTC.
            reason = f"device time {reading.device_time} is outside the range of dates"
            return self._reject(
                device, source, received_at, reason, raw, field="timestamp", name=name
            )
        return self._count(Accepted(observation, observation_message(observation, self.topics)))

    def _pseudonym(self, resident: str) -> str:
        pseudonym = self._pseudonyms.get(resident)
        if pseudonym is None:
            pseudonym = self._pseudonyms[resident] = pseudonymise(resident, self._secret)
        return pseudonym

    def _reject(
        self,
        device: Device,
        source: Source,
        received_at: datetime,
        reason: str,
        raw: bytes,
        *,
        field: str | None,
        name: str | None,
    ) -> Rejected:
        rejection = Rejection(
            station_id=self.registry.station_id,
            device_id=device.id,
            source=source.value,
            reason=reason,
            raw=raw,
            received_at=received_at,
            field=field,
            characteristic=name,
        )
        self.counters[f"rejected:{field or 'payload'}"] += 1
        return self._count(Rejected(rejection, rejection_message(rejection, self.topics)))

    def _count(self, outcome: _O) -> _O:
        self.counters[type(outcome).__name__.lower()] += 1
        return outcome
