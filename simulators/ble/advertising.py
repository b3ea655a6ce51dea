"""Advert payloads of virtual devices, built with Bumble's ``AdvertisingData``.

A legacy advertising PDU carries 31 bytes. Bumble's virtual controller echoes the advert
as the scan response (it does not send the scan response data), so everything a device
wants a scanner to see must fit in the advert itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Final

from bumble.core import AdvertisingData

from simulators.errors import AdvertTooLongError

#: Most bytes a legacy advert carries.
LEGACY_ADVERT_SIZE: Final = 31
#: Flags AD: LE General Discoverable Mode, BR/EDR Not Supported.
GENERAL_DISCOVERABLE: Final = bytes((0x06,))


def build_advert(
    device: str,
    *,
    name: str | None = None,
    service_uuids: Iterable[int] = (),
    service_data: Mapping[int, bytes] | None = None,
    manufacturer_data: Mapping[int, bytes] | None = None,
) -> bytes:
    """Flags, 16-bit service UUIDs, service data, manufacturer data and the local name.

    A name that does not fit is sent shortened (AD type 0x08), as real devices do.

    ``manufacturer_data`` maps a company id to the bytes that follow it (bleak's form).
    More than 31 bytes raises ``AdvertTooLongError`` naming ``device``.
    """
    structures: list[tuple[int, bytes]] = [(AdvertisingData.Type.FLAGS, GENERAL_DISCOVERABLE)]
    uuids = b"".join(struct.pack("<H", uuid) for uuid in service_uuids)
    if uuids:
        structures.append((AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, uuids))
    for uuid, data in (service_data or {}).items():
        structures.append(
            (AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID, struct.pack("<H", uuid) + data)
        )
    for company, data in (manufacturer_data or {}).items():
        structures.append(
            (AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA, struct.pack("<H", company) + data)
        )
    room = LEGACY_ADVERT_SIZE - len(bytes(AdvertisingData(structures))) - 2
    if name:
        encoded = name.encode()
        if len(encoded) <= room:
            structures.append((AdvertisingData.Type.COMPLETE_LOCAL_NAME, encoded))
        elif room > 0:
            # As real devices do: a Shortened Local Name when the whole one does not fit.
            structures.append((AdvertisingData.Type.SHORTENED_LOCAL_NAME, encoded[:room]))
    payload = bytes(AdvertisingData(structures))
    if len(payload) > LEGACY_ADVERT_SIZE:
        raise AdvertTooLongError(device, len(payload))
    return payload
