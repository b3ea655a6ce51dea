"""The translation table: every key in both languages, and every label used is in the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.i18n import LANGUAGES, MESSAGES, pick_language, translate
from alerts.lifecycle import AttemptResult, CaseState, EventKind, Outcome
from carepulse.alert import Category, Severity

TEMPLATES = Path(__file__).resolve().parents[2] / "alerts" / "web" / "templates"


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_key_has_every_language(key: str) -> None:
    """No key is missing a language, and no text is empty."""
    assert set(MESSAGES[key]) == set(LANGUAGES)
    assert all(text.strip() for text in MESSAGES[key].values())


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_placeholders_agree_between_languages(key: str) -> None:
    """{n}-style placeholders are the same in Chinese and English."""
    fields = [set(re.findall(r"{(\w+)}", MESSAGES[key][lang])) for lang in LANGUAGES]
    assert all(f == fields[0] for f in fields)


def test_every_enum_value_has_a_label() -> None:
    """Severities, categories, states, outcomes, attempt results and events are all labelled."""
    needed = (
        [f"severity.{s.value}" for s in Severity]
        + [f"category.{c.value}" for c in Category]
        + [f"state.{s.value}" for s in CaseState]
        + [f"outcome.{o.value}" for o in Outcome]
        + [f"attempt.{a.value}" for a in AttemptResult]
        + [f"event.{k.value}" for k in EventKind]
    )
    assert [k for k in needed if k not in MESSAGES] == []


def test_every_key_used_in_a_template_exists() -> None:
    """t('...') in the templates names only keys of the table."""
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.\-]+)["']""", path.read_text()))
    assert used, "no template uses t()"
    # t('severity.' ~ value) builds keys from a prefix; the enum test above covers the values.
    prefixes = {k for k in used if k.endswith(".")}
    assert [p for p in prefixes if not any(m.startswith(p) for m in MESSAGES)] == []
    assert sorted(used - prefixes - set(MESSAGES)) == []


def test_translate_formats_and_falls_back() -> None:
    """Values are filled in; an unknown key shows itself rather than nothing."""
    assert translate("queue.count", "en", n=3) == "3 cases"
    assert translate("queue.count", "zh", n=3) == "共 3 条"
    assert translate("no.such.key", "en") == "no.such.key"


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        ("en", "zh-CN", "en"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, None, "zh"),
        ("fr", "fr-FR", "zh"),
    ],
)
def test_language_choice(requested: str | None, header: str | None, expected: str) -> None:
    """Explicit choice, then Accept-Language, then Chinese."""
    assert pick_language(requested, header) == expected
