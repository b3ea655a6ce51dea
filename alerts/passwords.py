"""Password hashing with the standard library's scrypt (RFC 7914), random salt per password.

Stored form: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``, so the cost can be raised later
while old hashes still verify. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

#: scrypt cost: n=2**15, r=8 uses 32 MiB and ~0.1 s on a small server (OWASP's minimum is 2**17
#: with r=8, p=1 for interactive logins; 2**15 keeps logins quick on a 2-core station box).
N: Final = 2**15
R: Final = 8
P: Final = 1
_MAXMEM: Final = 64 * 1024 * 1024
MIN_LENGTH: Final = 8


def hash_password(password: str, *, n: int = N) -> str:
    """A salted scrypt hash of ``password`` in the stored form."""
    if len(password) < MIN_LENGTH:
        msg = f"a password needs at least {MIN_LENGTH} characters"
        raise ValueError(msg)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time; False for a malformed hash)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(digest) // 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual.hex(), digest)


#: Verified against this when the user does not exist, so timing does not tell who exists.
DUMMY_HASH: Final = (
    "scrypt$32768$8$1$00000000000000000000000000000000$"
    "0000000000000000000000000000000000000000000000000000000000000000"
)
