"""Pseudonymous resident ids: HMAC-SHA256 of the resident's id, keyed by the station secret.

Only pseudonyms travel on the wire and into InfluxDB; names, phone numbers and the
station's own resident ids stay in the device registry and the alert service. The
same resident at the same station always gets the same pseudonym, so history lines
up; without the station secret a pseudonym cannot be reversed or recomputed from a
guessed id.
"""

from __future__ import annotations

import hashlib
import hmac
import re

#: A pseudonym is the first 128 bits of the HMAC as lowercase hex.
PSEUDONYM_HEX_CHARS = 32
#: Shortest station secret accepted, in bytes (128 bits).
MIN_SECRET_BYTES = 16

_PSEUDONYM = re.compile(rf"[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}")


def pseudonymise(resident_id: str, station_secret: bytes) -> str:
    """Return the pseudonym of ``resident_id`` under ``station_secret``.

    Raises:
        ValueError: the secret is shorter than 16 bytes or the resident id is empty.
    """
    if len(station_secret) < MIN_SECRET_BYTES:
        msg = (
            f"station secret is {len(station_secret)} bytes; use at least {MIN_SECRET_BYTES} "
            "random bytes (e.g. `openssl rand -hex 32`)"
        )
        raise ValueError(msg)
    normalised = resident_id.strip()
    if not normalised:
        msg = "resident id is empty"
        raise ValueError(msg)
    digest = hmac.new(station_secret, normalised.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def is_pseudonym(value: str) -> bool:
    """True when ``value`` has the shape of a pseudonym (not proof that it is one)."""
    return _PSEUDONYM.fullmatch(value) is not None
