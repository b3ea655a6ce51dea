"""Looks for personal data in what the pipeline wrote (a test helper; docs/security.md).

The alert service alone may know a resident's name and phone number (its import file);
the station alone knows the raw resident ids (its registry). Everything on Kafka and in
InfluxDB must carry only the 32-hex pseudonyms. :func:`find_leaks` looks at one message
or series in every readable form it can take:

* the bytes as UTF-8 text;
* JSON with its ``\\uXXXX`` escapes undone (``json.dumps`` escapes every Chinese name);
* every string in it that is hex (dead letters keep the raw input as ``raw_hex``), decoded;

and reports each name, phone number or resident id it finds, and every ``subject_id`` or
``subject`` that is not a pseudonym. The collectors below read every message of the
run's Kafka topics and every series of its InfluxDB buckets.
"""

from __future__ import annotations

import binascii
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

PSEUDONYM = re.compile(r"[0-9a-f]{32}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){4,}")
#: Keys that name a resident: ``subject_id`` on Kafka; InfluxDB's tag is ``subject``
#: (a heartbeat's ``subject`` is ``gateway`` or ``device/<id>``, not a resident).
KAFKA_SUBJECTS = frozenset({"subject_id"})
INFLUX_SUBJECTS = frozenset({"subject_id", "subject"})


@dataclass(frozen=True, slots=True)
class PersonalData:
    """What must never leave the alert service or the station."""

    names: frozenset[str]
    phones: frozenset[str]
    resident_ids: frozenset[str]

    @classmethod
    def from_import_file(cls, people_csv: str, resident_ids: Iterable[str]) -> PersonalData:
        """From the alert service's resident import (``name``, ``phone`` columns)."""
        rows = list(csv.DictReader(io.StringIO(people_csv)))
        return cls(
            names=frozenset(r["name"] for r in rows if r["name"]),
            phones=frozenset(r["phone"] for r in rows if r["phone"]),
            resident_ids=frozenset(resident_ids),
        )

    def patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        """One pattern per secret; ids and phones must stand alone (not inside a longer id)."""
        found = [("name", re.compile(re.escape(n))) for n in sorted(self.names)]
        found += [
            ("phone", re.compile(rf"(?<!\d){re.escape(p)}(?!\d)")) for p in sorted(self.phones)
        ]
        found += [
            ("resident id", re.compile(rf"(?<![0-9A-Za-z]){re.escape(r)}(?![0-9A-Za-z])", re.I))
            for r in sorted(self.resident_ids)
        ]
        return found


@dataclass(frozen=True, slots=True)
class Leak:
    """One piece of personal data, where it was, and what it was."""

    where: str
    what: str
    value: str


def readable_forms(raw: bytes | str) -> Iterator[str]:
    """The text of a message, its JSON unescaped, and the text of every hex string in it."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    yield text
    data = _json(text)
    if data is not None:
        yield json.dumps(data, ensure_ascii=False)
    for match in _HEX.findall(text):
        try:
            decoded = binascii.unhexlify(match)
        except binascii.Error:
            continue
        yield decoded.decode("utf-8", errors="replace")
        yield decoded.decode("utf-16-le", errors="replace")


def find_leaks(
    where: str,
    raw: bytes | str,
    personal: PersonalData,
    subject_keys: frozenset[str] = KAFKA_SUBJECTS,
) -> list[Leak]:
    """Every personal datum in ``raw``, and every ``subject_keys`` value not a pseudonym."""
    leaks: dict[tuple[str, str], Leak] = {}
    patterns = personal.patterns()
    for form in readable_forms(raw):
        for what, pattern in patterns:
            for match in pattern.finditer(form):
                leaks.setdefault((what, match.group(0)), Leak(where, what, match.group(0)))
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    for value in _subjects(_json(text), subject_keys):
        if not PSEUDONYM.fullmatch(value):
            leaks.setdefault(("subject", value), Leak(where, "subject not a pseudonym", value))
    return list(leaks.values())


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _subjects(data: Any, keys: frozenset[str]) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _subjects(value, keys)
    elif isinstance(data, list):
        for item in data:
            yield from _subjects(item, keys)


# ------------------------------------------------------------------------ collectors


async def kafka_messages(
    bootstrap: str, topics: Iterable[str]
) -> list[tuple[str, bytes | None, bytes | None]]:
    """(where, key, value) of every message now on ``topics``, read to their end offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    found: list[tuple[str, bytes | None, bytes | None]] = []
    if not partitions:
        return found
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    where = f"kafka {tp.topic}[{tp.partition}]@{record.offset}"
                    found.append((where, record.key, record.value))
    finally:
        await consumer.stop()
    return found


async def topics_of_run(bootstrap: str, marker: str) -> list[str]:
    """Every topic whose name contains ``marker`` (the run's prefix and Faust's own)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return sorted(t for t in await consumer.topics() if marker in t)
    finally:
        await consumer.stop()


async def influx_series(client: InfluxDBClientAsync, bucket: str) -> list[tuple[str, str]]:
    """(where, text) of every row of ``bucket``: measurement, field, every tag, string values."""
    tables = await client.query_api().query(f'from(bucket: "{bucket}") |> range(start: 0)')
    rows: list[tuple[str, str]] = []
    for table in tables:
        for record in table.records:
            values = {
                k: v
                for k, v in record.values.items()
                if k not in ("result", "table", "_start", "_stop", "_time")
                and (not isinstance(v, int | float) or k != "_value")
            }
            where = f"influxdb {bucket} {record.get_measurement()}.{record.get_field()}"
            rows.append((where, json.dumps(values, ensure_ascii=False, default=str)))
    return rows
