"""Building GATT characteristics that behave as their properties say.

Bumble's GATT server does not check a characteristic's properties on read or write (its
``on_att_write_request`` carries a "TODO: check permissions"), so a read-only value could
be overwritten by a client. :func:`characteristic` wraps every value in handlers that
answer *Read Not Permitted* / *Write Not Permitted* as a real server does, and lets
devices answer with the application error codes of their service.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor

Properties = Characteristic.Properties

#: Reads a characteristic's current value for one connection.
ReadHandler = Callable[[Connection], bytes]
#: Handles a write from one connection; raise :func:`att_error` to refuse it.
WriteHandler = Callable[[Connection, bytes], Awaitable[None] | None]

_WRITES: Final = Properties.WRITE | Properties.WRITE_WITHOUT_RESPONSE


class AppError(enum.IntEnum):
    """ATT error codes used by the health services (application and common profile range)."""

    #: HRS: Heart Rate Control Point value not supported. CTS: data field ignored.
    CONTROL_POINT_NOT_SUPPORTED = 0x80
    #: Common profile error codes (CSS Part B, 1.2).
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
    OUT_OF_RANGE = 0xFF


def uuid16(value: int) -> UUID:
    """A Bumble UUID from a 16-bit SIG number (the ``UUID`` of an ``edge.decoders`` class)."""
    return UUID.from_16_bits(value)


def att_error(code: int) -> ATT_Error:
    """The exception a read or write handler raises to answer with ATT error ``code``."""
    return ATT_Error(error_code=code)


def characteristic(
    uuid: int,
    properties: Properties,
    *,
    read: ReadHandler | None = None,
    write: WriteHandler | None = None,
    descriptors: Sequence[Descriptor] = (),
) -> Characteristic[bytes]:
    """A characteristic whose reads and writes obey ``properties``.

    Notify/indicate characteristics get their CCCD from Bumble's server automatically.
    A read without the READ property, or a write without WRITE/WRITE_WITHOUT_RESPONSE,
    is answered with the matching ATT error. A readable characteristic without a
    ``read`` handler reads as empty.
    """

    def on_read(connection: Connection) -> bytes:
        if not properties & Properties.READ:
            raise att_error(ErrorCode.READ_NOT_PERMITTED)
        return b"" if read is None else read(connection)

    async def on_write(connection: Connection, value: bytes) -> None:
        if not properties & _WRITES or write is None:
            raise att_error(ErrorCode.WRITE_NOT_PERMITTED)
        result = write(connection, bytes(value))
        if result is not None:
            await result

    permissions = Characteristic.Permissions.READABLE | Characteristic.Permissions.WRITEABLE
    return Characteristic(
        uuid16(uuid),
        properties,
        permissions,
        CharacteristicValue(read=on_read, write=on_write),
        descriptors=descriptors,
    )
