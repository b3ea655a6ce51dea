"""``BumbleClient``: bleak's client backend over a central radio on the virtual air.

Each client opens its own central radio when it connects and closes it when the link
ends. Bumble's GATT client does the ATT work; this class maps its objects into bleak's
service collection and its errors into bleak's (``BleakGATTProtocolError`` with the ATT
code, ``BleakError`` when the link drops, ``TimeoutError`` when a connection does not
complete in time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import core
from bumble.att import ATT_DEFAULT_MTU, ATT_Error
from bumble.device import Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy, ServiceProxy
from bumble.hci import Address

from simulators.ble.air import VirtualAir, normalize_address
from simulators.bleak_bumble.convert import att_error_to_bleak, properties_to_bleak, uuid_to_bleak

logger = logging.getLogger(__name__)

#: ATT MTU the client asks for after connecting (what BlueZ and Android ask for).
DEFAULT_MTU: Final = 247

_T = TypeVar("_T")


class BumbleClient(BaseBleakClient):
    """Connects to a virtual peripheral through a central radio of its own.

    bleak instantiates backend classes itself, so the air is bound to a subclass:
    use ``BumbleBackend(air).client_class``, not this class directly.

    As BlueZ does, the disconnected callback fires on every disconnection, including
    one asked for with ``disconnect()``.
    """

    #: The air this class connects over; set on the subclass ``BumbleBackend`` makes.
    air: ClassVar[VirtualAir | None] = None
    #: ATT MTU to request after connecting.
    mtu: ClassVar[int] = DEFAULT_MTU

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        services: set[str] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        air = type(self).air
        if air is None:
            msg = "BumbleClient has no air; pass BumbleBackend(air).client_class as backend="
            raise BleakError(msg)
        self._air = air
        self.address = normalize_address(self.address)
        self._wanted_services = services
        self._radio: Device | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._lost: asyncio.Future[int] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # -- identity --------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The device's local name, or the address with dashes (as BlueZ's alias)."""
        listing = self._air.lookup(self.address)
        return listing.name if listing is not None else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 until connected)."""
        connection = self._connection
        return connection.att_mtu if connection is not None else ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connection is not None

    # -- connection ------------------------------------------------------------------
    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange MTU, pair if asked, and discover the services.

        An address nothing on the air uses raises ``BleakDeviceNotFoundError``; a link
        that drops during set-up (a refusing device) raises ``BleakError``; no link
        within ``timeout`` raises ``TimeoutError``.
        """
        if self._connection is not None:
            return
        if self._closing is not None:
            await self._closing
        timeout = float(kwargs.get("timeout", self._timeout))
        if self._air.lookup(self.address) is None:
            msg = f"Device with address {self.address} was not found on the virtual air."
            raise BleakDeviceNotFoundError(self.address, msg)
        radio = await self._air.open_radio("bleak client", self._air.allocate_address(central=True))
        self._radio = radio
        try:
            try:
                connection = await radio.connect(Address(self.address), timeout=timeout)
            except core.TimeoutError as error:
                msg = f"no connection to {self.address} within {timeout} s"
                raise TimeoutError(msg) from error
            except core.ConnectionError as error:
                msg = f"connection to {self.address} failed: {error}"
                raise BleakError(msg) from error
            self._attach(radio, connection)
            peer = Peer(connection)
            self._peer = peer
            await self._run(peer.request_mtu(type(self).mtu), "MTU exchange")
            if pair:
                await self._run(connection.pair(), "pairing")
            self.services = await self._discover(peer)
        except BaseException:
            await self._abandon()
            raise
        logger.debug("connected to %s (MTU %d)", self.address, self.mtu_size)

    async def disconnect(self) -> None:
        """Disconnect and wait until the link is down (no-op when not connected)."""
        connection = self._connection
        if connection is not None:
            try:
                await connection.disconnect()
            except core.BaseBumbleError:
                logger.debug("disconnect of %s raced the device's own", self.address)
        if self._closing is not None:
            await self._closing

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (Bumble SMP, Just Works). The virtual controller always encrypts."""
        connection = self._require()
        await self._run(connection.pair(), "pairing")

    async def unpair(self) -> None:
        """Forget pairing keys; the client's radio keeps none beyond the link, so nothing to do."""
        logger.debug("unpair %s: virtual centrals keep no bonds", self.address)

    # -- GATT ------------------------------------------------------------------------
    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (long values with Read Blob)."""
        peer = self._require_peer()
        if use_cached:
            cached = peer.gatt_client.cached_values.get(characteristic.handle)
            if cached is not None:
                return bytearray(cached[1])
        value = await self._run(peer.read_value(characteristic.obj), "read")
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        peer = self._require_peer()
        value = await self._run(peer.read_value(descriptor.obj), "descriptor read")
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write with response (Write Request) or without (Write Command)."""
        peer = self._require_peer()
        payload = bytes(memoryview(data))
        await self._run(
            peer.write_value(characteristic.obj, payload, with_response=response), "write"
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Write a descriptor value (with response)."""
        peer = self._require_peer()
        payload = bytes(memoryview(data))
        await self._run(
            peer.write_value(descriptor.obj, payload, with_response=True), "descriptor write"
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications (preferred) or indications and route values to ``callback``."""
        peer = self._require_peer()
        proxy = characteristic.obj
        if not isinstance(proxy, CharacteristicProxy):
            msg = f"characteristic {characteristic.uuid} does not come from this backend"
            raise BleakError(msg)
        if (
            "notify" not in characteristic.properties
            and "indicate" not in characteristic.properties
        ):
            msg = f"characteristic {characteristic.uuid} supports neither notify nor indicate"
            raise BleakError(msg)

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._run(peer.subscribe(proxy, on_value, prefer_notify=True), "subscribe")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications/indications on a characteristic."""
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._run(peer.unsubscribe(characteristic.obj, subscriber), "unsubscribe")

    # -- internals -------------------------------------------------------------------
    def _require(self) -> Connection:
        connection = self._connection
        if connection is None:
            msg = "Not connected"
            raise BleakError(msg)
        return connection

    def _require_peer(self) -> Peer:
        self._require()
        assert self._peer is not None  # noqa: S101 - set together with the connection
        return self._peer

    def _attach(self, radio: Device, connection: Connection) -> None:
        self._connection = connection
        lost: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._lost = lost

        def on_disconnection(reason: int) -> None:
            self._on_disconnection(radio, reason)

        connection.once(Connection.EVENT_DISCONNECTION, on_disconnection)
        if radio.lookup_connection(connection.handle) is None:
            # The device dropped the link before this coroutine resumed.
            on_disconnection(0x13)

    def _on_disconnection(self, radio: Device, reason: int) -> None:
        logger.debug("link to %s down (reason 0x%02X)", self.address, reason)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)
        was_connected = self._connection is not None
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        self._closing = asyncio.get_running_loop().create_task(self._close_radio(radio))
        if was_connected and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _close_radio(self, radio: Device) -> None:
        if self._radio is radio:
            self._radio = None
        await self._air.close_radio(radio)

    async def _abandon(self) -> None:
        """Clean up after a failed connect."""
        connection, self._connection = self._connection, None
        self._peer = None
        if connection is not None and self._radio is not None:
            if self._radio.lookup_connection(connection.handle) is not None:
                try:
                    await connection.disconnect()
                except core.BaseBumbleError:
                    logger.debug("abandoning %s: link already down", self.address)
        if self._closing is not None:
            await self._closing
        elif self._radio is not None:
            radio, self._radio = self._radio, None
            await self._air.close_radio(radio)

    async def _run(self, operation: Awaitable[_T], what: str) -> _T:
        """Await a Bumble GATT operation; map its failures to bleak's."""
        lost = self._lost
        task = asyncio.ensure_future(operation)
        if lost is None:
            task.cancel()
            msg = "Not connected"
            raise BleakError(msg)
        try:
            waiting: set[asyncio.Future[Any]] = {task, lost}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if task in done and not task.cancelled():
                try:
                    return task.result()
                except ATT_Error as error:
                    raise att_error_to_bleak(error) from error
                except core.TimeoutError as error:
                    msg = f"{what} on {self.address} timed out"
                    raise TimeoutError(msg) from error
                except core.InvalidStateError as error:
                    raise BleakError(str(error)) from error
            msg = f"{self.address} disconnected during {what}"
            raise BleakError(msg)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        """Discover services, characteristics and descriptors into bleak's collection."""
        wanted = self._wanted_services
        uuids = [core.UUID(uuid) for uuid in wanted] if wanted else []
        proxies: list[ServiceProxy] = await self._run(
            peer.discover_services(uuids), "service discovery"
        )
        collection = BleakGATTServiceCollection()
        for proxy in proxies:
            service = BleakGATTService(proxy, proxy.handle, uuid_to_bleak(proxy.uuid))
            collection.add_service(service)
            await self._run(proxy.discover_characteristics(), "characteristic discovery")
            for char_proxy in proxy.characteristics:
                char = BleakGATTCharacteristic(
                    char_proxy,
                    char_proxy.handle,
                    uuid_to_bleak(char_proxy.uuid),
                    properties_to_bleak(char_proxy.properties),
                    self._max_write_without_response,
                    service,
                )
                collection.add_characteristic(char)
                descriptors = await self._run(
                    char_proxy.discover_descriptors(), "descriptor discovery"
                )
                for descriptor in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, uuid_to_bleak(descriptor.type), char
                        )
                    )
        return collection

    def _max_write_without_response(self) -> int:
        return self.mtu_size - 3
