"""Logging set-up: level from the argument or CAREPULSE_LOGLEVEL, clear error otherwise."""

from __future__ import annotations

import logging

import pytest

from carepulse.log import setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CAREPULSE_LOGLEVEL=debug turns on debug logging."""
    monkeypatch.setenv("CAREPULSE_LOGLEVEL", "debug")
    assert setup_logging() == logging.DEBUG
    assert logging.getLogger().level == logging.DEBUG


def test_explicit_level_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit level (a CLI option) wins over the variable."""
    monkeypatch.setenv("CAREPULSE_LOGLEVEL", "DEBUG")
    assert setup_logging("WARNING") == logging.WARNING


def test_setting_up_twice_keeps_one_handler() -> None:
    """Calling set-up again replaces carepulse's handler instead of doubling output."""
    setup_logging("INFO")
    setup_logging("INFO")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_carepulse", False)]
    assert len(ours) == 1


def test_unknown_level_names_the_variable() -> None:
    """A typo in the level is an error that says which variable to fix."""
    with pytest.raises(ValueError, match="CAREPULSE_LOGLEVEL"):
        setup_logging("LOUD")
