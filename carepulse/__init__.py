"""carepulse: community health monitoring from BLE/MQTT devices to a social-worker queue."""

__version__ = "0.1.0"
