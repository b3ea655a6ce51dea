"""Pseudonymous resident ids: stable, keyed, and shaped so raw ids stand out."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from carepulse.pseudonym import MIN_SECRET_BYTES, is_pseudonym, pseudonymise

SECRET = b"0123456789abcdef0123456789abcdef"


def test_same_resident_same_secret_gives_the_same_pseudonym() -> None:
    """History lines up: a resident's pseudonym never changes at one station."""
    assert pseudonymise("110101195001011234", SECRET) == pseudonymise("110101195001011234", SECRET)


def test_pseudonym_is_the_truncated_hmac_sha256() -> None:
    """The pseudonym is HMAC-SHA256(secret, id), first 128 bits in hex."""
    expected = hmac.new(SECRET, b"resident-7", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise("resident-7", SECRET) == expected


def test_another_secret_gives_another_pseudonym() -> None:
    """Without the station's secret the pseudonym cannot be recomputed from a guessed id."""
    other = b"fedcba9876543210fedcba9876543210"
    assert pseudonymise("resident-7", SECRET) != pseudonymise("resident-7", other)


def test_different_residents_get_different_pseudonyms() -> None:
    """A thousand residents get a thousand distinct pseudonyms."""
    pseudonyms = {pseudonymise(f"resident-{n}", SECRET) for n in range(1000)}
    assert len(pseudonyms) == 1000


def test_surrounding_whitespace_is_not_part_of_the_id() -> None:
    """A registry typo of a trailing space does not split a resident's history."""
    assert pseudonymise(" resident-7 ", SECRET) == pseudonymise("resident-7", SECRET)


def test_short_secret_is_refused() -> None:
    """A secret under 128 bits is refused with advice on making one."""
    with pytest.raises(ValueError, match="openssl rand"):
        pseudonymise("resident-7", b"x" * (MIN_SECRET_BYTES - 1))


def test_empty_resident_id_is_refused() -> None:
    """An empty id would give every unknown resident the same pseudonym."""
    with pytest.raises(ValueError, match="empty"):
        pseudonymise("  ", SECRET)


def test_is_pseudonym_tells_pseudonyms_from_raw_ids() -> None:
    """Names, phone numbers and national ids do not look like pseudonyms."""
    assert is_pseudonym(pseudonymise("resident-7", SECRET))
    for raw in ("张伟", "13800138000", "110101195001011234", "resident-7", "A" * 32):
        assert not is_pseudonym(raw)
