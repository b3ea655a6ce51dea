"""The languages carepulse speaks (Chinese first) and the lookup its message tables share.

The alert service (``alerts/i18n.py``) and the reports (``storage/i18n.py``) each keep their
own table of ``key -> {language -> text}``; both look texts up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LANGUAGES: Final = ("zh", "en")
DEFAULT_LANGUAGE: Final = "zh"


def lookup(
    messages: Mapping[str, Mapping[str, str]], key: str, language: str, **values: object
) -> str:
    """The text of ``key`` in ``language`` (falls back to Chinese, then to the key itself)."""
    entry = messages.get(key)
    if entry is None:
        return key
    text = entry.get(language) or entry[DEFAULT_LANGUAGE]
    return text.format(**values) if values else text
