"""The device registry file: parsing, validation naming the key, and resident assignment."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from edge.errors import RegistryError
from edge.registry import Assigned, Held, Mode, Transport, load_registry

STATION = """
[station]
id = "st-001"
timezone = "Asia/Shanghai"

[[devices]]
id = "c4:7c:8d:6a:12:34"
kind = "bp_meter"
transport = "ble"
resident = "R0042"
mode = "poll"
poll_interval_s = 600

[[devices]]
id = "5C:CA:D3:11:22:33"
kind = "scale"
transport = "advert"
users = { "1" = "R0042", "2" = "R0043" }
weight_bands = [
    { resident = "R0042", min_kg = 55.0, max_kg = 65.0 },
    { resident = "R0043", min_kg = 60.0, max_kg = 90.0 },
]

[[devices]]
id = "wifi-scale-7"
kind = "scale"
transport = "mqtt"
resident = "R0044"
timezone = "UTC"
"""


def test_station_and_devices_are_read() -> None:
    """Every field of the file reaches the registry."""
    registry = load_registry(STATION)
    assert registry.station_id == "st-001"
    assert registry.timezone == ZoneInfo("Asia/Shanghai")
    assert len(registry) == 3
    bp = registry.lookup("C4:7C:8D:6A:12:34")
    assert bp is not None
    assert (bp.kind, bp.transport, bp.mode, bp.poll_interval_s) == (
        "bp_meter",
        Transport.BLE,
        Mode.POLL,
        600.0,
    )
    assert bp.timezone == ZoneInfo("Asia/Shanghai")
    wifi = registry.lookup("wifi-scale-7")
    assert wifi is not None
    assert wifi.timezone == ZoneInfo("UTC")


def test_lookup_ignores_address_case_and_unknown_devices_are_none() -> None:
    """BLE addresses match in any letter case; an unknown device is simply absent."""
    registry = load_registry(STATION)
    assert registry.lookup("c4:7C:8d:6a:12:34") is not None
    assert registry.lookup("00:11:22:33:44:55") is None


def test_single_resident_device_assigns_its_resident() -> None:
    """A personal device's readings are its resident's."""
    registry = load_registry(STATION)
    device = registry.lookup("wifi-scale-7")
    assert device is not None
    assert registry.resident_for(device, user_index=None, weight_kg=70.0) == Assigned("R0044")


@pytest.mark.parametrize(
    ("user_index", "weight", "expected"),
    [
        (1, 80.0, Assigned("R0042")),
        (2, 58.0, Assigned("R0043")),
        (None, 57.0, Assigned("R0042")),
        (None, 85.0, Assigned("R0043")),
        (None, 62.0, Held("62.0 kg fits 2 residents of 5C:CA:D3:11:22:33")),
        (None, 120.0, Held("120.0 kg fits no registered resident of 5C:CA:D3:11:22:33")),
        (9, 57.0, Assigned("R0042")),
        (None, None, Held("shared device 5C:CA:D3:11:22:33 sent no user index and no weight")),
    ],
)
def test_shared_scale_assigns_by_user_index_then_weight_band(
    user_index: int | None, weight: float | None, expected: Assigned | Held
) -> None:
    """User index first; else the only fitting weight band; otherwise the reading is held."""
    registry = load_registry(STATION)
    scale = registry.lookup("5C:CA:D3:11:22:33")
    assert scale is not None
    assert registry.resident_for(scale, user_index=user_index, weight_kg=weight) == expected


def test_unregistered_user_index_without_bands_is_held() -> None:
    """A user index nobody registered is not guessed."""
    registry = load_registry(
        '[station]\nid = "s"\n[[devices]]\nid = "a"\nkind = "bp_meter"\n'
        'transport = "ble"\nusers = { "1" = "R1" }\n'
    )
    device = registry.lookup("a")
    assert device is not None
    assert registry.resident_for(device, user_index=3, weight_kg=None) == Held(
        "user index 3 is not registered on a"
    )


BASE = '[station]\nid = "st-001"\n'
DEVICE = '[[devices]]\nid = "a"\nkind = "scale"\ntransport = "ble"\nresident = "R1"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[station", "(file)"),
        ("", "station"),
        ('[station]\nid = ""\n', "station.id"),
        ('[station]\nid = "s"\ntimezone = "Mars/Olympus"\n', "station.timezone"),
        ("devices = 3\n" + BASE, "devices"),
        (BASE + 'secret = "x"\n', "station.secret"),
        ('owner = "me"\n' + BASE, "owner"),
        (BASE + DEVICE.replace('kind = "scale"', 'kind = "toaster"'), "devices[0].kind"),
        (BASE + DEVICE.replace('"ble"', '"zigbee"'), "devices[0].transport"),
        (BASE + DEVICE + 'colour = "red"\n', "devices[0].colour"),
        (BASE + DEVICE + 'mode = "push"\n', "devices[0].mode"),
        (BASE + DEVICE + "pairing = 1\n", "devices[0].pairing"),
        (BASE + DEVICE + "poll_interval_s = -5\n", "devices[0].poll_interval_s"),
        (BASE + DEVICE.replace('resident = "R1"\n', ""), "devices[0]"),
        (BASE + DEVICE + 'users = { "1" = "R2" }\n', "devices[0]"),
        (BASE + DEVICE.replace('resident = "R1"', 'users = { "x" = "R2" }'), "devices[0].users.x"),
        (
            BASE + DEVICE.replace('resident = "R1"', 'weight_bands = [{ resident = "R2" }]'),
            "devices[0].weight_bands[0]",
        ),
        (
            BASE
            + DEVICE.replace(
                'resident = "R1"', 'weight_bands = [{ resident = "R2", min_kg = 80, max_kg = 60 }]'
            ),
            "devices[0].weight_bands[0]",
        ),
        (BASE + DEVICE + DEVICE.replace('"a"', '"A"'), "devices[1].id"),
        (BASE + DEVICE + 'units = { weight = "stone" }\n', "devices[0].units.weight"),
        (BASE + DEVICE + 'units = { length = "m" }\n', "devices[0].units.length"),
    ],
)
def test_invalid_registry_names_the_key(text: str, key: str) -> None:
    """Each mistake in the file is a RegistryError whose .key says where it is."""
    with pytest.raises(RegistryError) as caught:
        load_registry(text)
    assert caught.value.key == key
