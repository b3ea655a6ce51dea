"""Logging set-up for carepulse's entry points.

Library modules only call ``logging.getLogger(__name__)``; the one place that adds
handlers is :func:`setup_logging`, called by each command's ``main``.
"""

from __future__ import annotations

import logging
import os

LOGLEVEL_ENV = "CAREPULSE_LOGLEVEL"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str | int | None = None) -> int:
    """Send log records to stderr at ``level``, else ``$CAREPULSE_LOGLEVEL``, else INFO.

    Returns the numeric level in force. An unknown level name raises ``ValueError``
    naming the variable, rather than silently logging at a level nobody asked for.
    """
    chosen = level if level is not None else os.environ.get(LOGLEVEL_ENV, "INFO")
    numeric = _to_level(chosen)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_carepulse", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._carepulse = True  # type: ignore[attr-defined]  # marks our handler for re-setup
    root.addHandler(handler)
    root.setLevel(numeric)
    return numeric


def _to_level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    name = value.strip().upper()
    if name.isdigit():
        return int(name)
    mapping = logging.getLevelNamesMapping()
    if name not in mapping:
        msg = f"{LOGLEVEL_ENV}={value!r} is not a log level; use DEBUG, INFO, WARNING or ERROR"
        raise ValueError(msg)
    return mapping[name]
