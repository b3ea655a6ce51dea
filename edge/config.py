"""The gateway's settings (environment ``CAREPULSE_*``, then the local stack's env file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from carepulse.settings import KafkaSettings, MqttSettings, state_dir


class GatewaySettings(KafkaSettings, MqttSettings):
    """Everything ``carepulse gateway`` needs besides the registry file."""

    station_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the resident pseudonyms (16+ random bytes); never in the registry.",
    )
    gateway_state_dir: Path | None = Field(
        default=None, description="Outbox and held readings (default: <state>/gateway)."
    )
    outbox_max_bytes: int = Field(default=1 << 30, gt=0)
    heartbeat_interval_s: float = Field(default=60.0, gt=0)
    ble: str = Field(
        default="bleak", description="BLE backend: 'bleak' (BlueZ adapters) or 'none'."
    )
    ble_connection_budget: int = Field(default=5, ge=1, description="Connections per adapter.")
    mqtt_enabled: bool = True
    mqtt_tls: bool = False
    mqtt_client_id: str = Field(default="", description="Default: carepulse-gateway-<station>.")
    mqtt_proxy_base: str = Field(
        default="+", description="First topic level of BTtoMQTT proxies; empty disables them."
    )

    def state_path(self) -> Path:
        """The folder of the outbox and held readings."""
        return self.gateway_state_dir or state_dir() / "gateway"

    def secret_bytes(self) -> bytes:
        """The station secret as bytes."""
        return self.station_secret.get_secret_value().encode()
