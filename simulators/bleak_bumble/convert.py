"""Bumble types to bleak types, at the boundary, one named function each."""

from __future__ import annotations

from typing import Final

from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble.att import ATT_Error
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement

_UUID_LISTS: Final = (
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_UUID_SIZES: Final = {0x02: 2, 0x03: 2, 0x04: 4, 0x05: 4, 0x06: 16, 0x07: 16}
_SERVICE_DATA: Final = {
    AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID: 2,
    AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID: 4,
    AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID: 16,
}
_NAMES: Final = (
    AdvertisingData.Type.COMPLETE_LOCAL_NAME,
    AdvertisingData.Type.SHORTENED_LOCAL_NAME,
)


def uuid_to_bleak(uuid: UUID) -> str:
    """A Bumble UUID in bleak's form: 128-bit, lower case (``0000180d-0000-1000-...``)."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def properties_to_bleak(properties: int) -> list[CharacteristicPropertyName]:
    """A characteristic properties bitmask as bleak's property names, in bit order."""
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if properties & bit]


def att_error_to_bleak(error: ATT_Error) -> BleakGATTProtocolError:
    """An ATT error response as bleak's ``BleakGATTProtocolError`` (same code)."""
    return BleakGATTProtocolError(int(error.error_code))


def advertising_data_to_bleak(
    data: AdvertisingData, rssi: int, platform: object
) -> AdvertisementData:
    """Parse the AD structures of one advert into bleak's ``AdvertisementData``.

    Repeated structures (Bumble's virtual controller echoes the advert as the scan
    response, so the accumulated data holds everything twice) collapse: the last one wins
    in the dictionaries and UUIDs are listed once.
    """
    local_name: str | None = None
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    service_uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, value in data.ad_structures:
        if ad_type in _NAMES:
            local_name = value.decode("utf-8", errors="replace")
        elif ad_type == AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA and len(value) >= 2:
            manufacturer_data[value[0] | value[1] << 8] = bytes(value[2:])
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            key = uuid_to_bleak(UUID.from_bytes(bytes(value[:size])))
            service_data[key] = bytes(value[size:])
        elif ad_type in _UUID_LISTS:
            size = _UUID_SIZES[int(ad_type)]
            for offset in range(0, len(value) - size + 1, size):
                text = uuid_to_bleak(UUID.from_bytes(bytes(value[offset : offset + size])))
                if text not in service_uuids:
                    service_uuids.append(text)
        elif ad_type == AdvertisingData.Type.TX_POWER_LEVEL and value:
            tx_power = int.from_bytes(value[:1], "little", signed=True)
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(platform,),
    )


def advertisement_to_bleak(advertisement: Advertisement) -> AdvertisementData:
    """One Bumble ``Advertisement`` (advert or advert + scan response) as bleak sees it.

    ``tx_power`` comes from a TX Power Level structure only, as BlueZ reports it; the
    virtual controller's report always says 0 dBm.
    """
    return advertising_data_to_bleak(advertisement.data, advertisement.rssi, advertisement)
