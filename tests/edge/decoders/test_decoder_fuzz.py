"""Untrusted bytes: only DecodeError escapes a decoder, and what decodes re-encodes."""

from __future__ import annotations

import json
import os
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.decoders import CHARACTERISTICS, Decoder
from edge.errors import DecodeError

DECODERS = sorted(CHARACTERISTICS.items())
NAMES = [name for name, _ in DECODERS]

#: Seeded fuzz: CAREPULSE_FUZZ_SEED replays a run; the seed is printed on every run.
FUZZ_SEED = int(os.environ.get("CAREPULSE_FUZZ_SEED", str(time.time_ns() % 2**32)))
FUZZ_ROUNDS = 3000


def _check(cls: type[Decoder], payload: bytes) -> None:
    """Decode; on success the value is JSON-safe and survives an encode/decode cycle."""
    failure: DecodeError | None = None
    try:
        value = cls.from_bytes(payload)
    except DecodeError as exc:
        failure = exc
    if failure is not None:
        assert failure.payload == payload
        assert failure.field
        return
    json.dumps(value.as_dict(), allow_nan=False)
    assert cls.from_bytes(bytes(value)) == value


@pytest.mark.parametrize(("name", "cls"), DECODERS, ids=NAMES)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=48))
def test_only_decode_error_escapes(name: str, cls: type[Decoder], payload: bytes) -> None:
    """Any byte string either decodes (and re-encodes to an equal value) or raises DecodeError."""
    _check(cls, payload)


@pytest.mark.parametrize(("name", "cls"), DECODERS, ids=NAMES)
def test_seeded_random_fuzz_never_crashes(name: str, cls: type[Decoder]) -> None:
    """Random payloads of every length never raise anything but DecodeError."""
    print(f"fuzz seed {FUZZ_SEED} (set CAREPULSE_FUZZ_SEED to replay)")  # noqa: T201 - replay aid
    rng = random.Random(f"{FUZZ_SEED}:{name}")
    for _ in range(FUZZ_ROUNDS):
        payload = rng.randbytes(rng.randrange(0, 40))
        try:
            _check(cls, payload)
        except AssertionError as exc:
            msg = f"seed {FUZZ_SEED}, payload {payload.hex()}"
            raise AssertionError(msg) from exc


@pytest.mark.parametrize(("name", "cls"), DECODERS, ids=NAMES)
def test_every_truncation_of_a_full_payload_names_a_field(name: str, cls: type[Decoder]) -> None:
    """Cutting an all-flags payload short raises DecodeError, never IndexError."""
    full = bytes([0xFF] * 2 + [0x01] * 46)
    for size in range(len(full) + 1):
        _check(cls, full[:size])
