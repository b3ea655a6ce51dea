"""The settings base reads CAREPULSE_ variables, falling back to the stack's env file."""

from __future__ import annotations

from pathlib import Path

import pytest

from carepulse.settings import KafkaSettings, StackSettings, stack_env_file, state_dir


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAREPULSE_STATE_DIR", str(tmp_path))
    for name in ("CAREPULSE_KAFKA_BOOTSTRAP", "CAREPULSE_TOPIC_PREFIX", "CAREPULSE_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_state_dir_follows_the_environment(state: Path) -> None:
    """CAREPULSE_STATE_DIR moves the state folder and the env file with it."""
    assert state_dir() == state
    assert stack_env_file() == state / "stack.env"


def test_defaults_point_at_the_local_stack(state: Path) -> None:
    """With no environment and no env file the settings name the loopback stack."""
    settings = KafkaSettings.load()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topics.readings == "readings"


def test_env_file_is_read(state: Path) -> None:
    """Values the stack script wrote are picked up."""
    (state / "stack.env").write_text(
        "CAREPULSE_KAFKA_BOOTSTRAP=127.0.0.1:19092\nCAREPULSE_TOPIC_PREFIX=st1.\n"
        "CAREPULSE_INFLUX_TOKEN=s3cr3t-value\n"
    )
    settings = StackSettings.load()
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.topics.alerts == "st1.alerts"
    assert settings.influx_token.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_environment_beats_the_env_file(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment's own environment wins over the local stack file."""
    (state / "stack.env").write_text("CAREPULSE_KAFKA_BOOTSTRAP=127.0.0.1:19092\n")
    monkeypatch.setenv("CAREPULSE_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    assert KafkaSettings.load().kafka_bootstrap == "kafka-1:9092,kafka-2:9092"


def test_invalid_values_name_the_setting(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-numeric partition count is refused, naming the setting."""
    monkeypatch.setenv("CAREPULSE_PARTITIONS", "many")
    with pytest.raises(ValueError, match="partitions"):
        KafkaSettings.load()
