"""The reports' translation table: both languages everywhere, the alert service's languages."""

from __future__ import annotations

import re

import pytest

from alerts import i18n as alerts_i18n
from carepulse.alert import Severity
from carepulse.observation import Kind
from storage.analysis import BANDS, FIELD_NAMES
from storage.i18n import DEFAULT_LANGUAGE, LANGUAGES, MESSAGES, check_language, translate


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_key_has_both_languages_and_the_same_placeholders(key: str) -> None:
    """No key lacks a language or an empty text; {placeholders} agree between languages."""
    assert set(MESSAGES[key]) == set(LANGUAGES)
    assert all(text.strip() for text in MESSAGES[key].values())
    fields = [set(re.findall(r"{(\w+)}", MESSAGES[key][lang])) for lang in LANGUAGES]
    assert all(f == fields[0] for f in fields)


def test_reports_speak_the_alert_services_languages() -> None:
    """Same languages and the same default (Chinese) as the alert service."""
    assert LANGUAGES == alerts_i18n.LANGUAGES
    assert DEFAULT_LANGUAGE == alerts_i18n.DEFAULT_LANGUAGE == "zh"
    for severity in Severity:
        assert translate(f"severity.{severity.value}", "zh") == alerts_i18n.translate(
            f"severity.{severity.value}", "zh"
        )


def test_every_kind_field_band_and_source_is_translated() -> None:
    """Kinds, named fields, bands and band sources all have table entries."""
    assert {f"kind.{k.value}" for k in Kind} <= MESSAGES.keys()
    assert {f"field.{f}" for f in FIELD_NAMES} <= MESSAGES.keys()
    assert {f"band.{f}" for f in BANDS} <= MESSAGES.keys()
    assert {f"source.{b.source_key}" for b in BANDS.values()} <= MESSAGES.keys()


def test_unknown_language_is_refused() -> None:
    """A report in a language we do not have is an error, not English by accident."""
    assert check_language("en") == "en"
    with pytest.raises(ValueError, match="zh or en"):
        check_language("fr")
