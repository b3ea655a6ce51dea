"""The virtual glucose meter's Record Access Control Point through a real bleak client."""

from __future__ import annotations

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError

from edge.decoders import (
    DateTime,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    RecordAccessControlPoint,
    decode,
)
from edge.decoders.racp import RACPOpCode, RACPOperator, RACPResponseCode
from simulators.ble import GlucoseMeter
from tests.simulators.conftest import Inbox, World

READINGS = [
    GlucoseMeasurement(
        1, DateTime(2026, 5, 1, 7, 30), concentration=0.0055, type=1, sample_location=1
    ),
    GlucoseMeasurement(
        2, DateTime(2026, 5, 1, 12, 5), concentration=0.0072, type=1, sample_location=1
    ),
    GlucoseMeasurement(
        3, DateTime(2026, 5, 2, 7, 28), concentration=0.0031, type=1, sample_location=1
    ),
]


def _meter(world: World) -> GlucoseMeter:
    meter = GlucoseMeter(world.air)
    for reading in READINGS:
        meter.store(reading)
    return meter


async def _subscribe(client: BleakClient) -> tuple[Inbox, Inbox]:
    measurements, racp = Inbox(), Inbox()
    await client.start_notify("2a18", measurements)
    await client.start_notify("2a52", racp)
    return measurements, racp


async def _ask(client: BleakClient, racp: Inbox, request: bytes) -> RecordAccessControlPoint:
    await client.write_gatt_char("2a52", request, response=True)
    (payload,) = await racp.take()
    answer = decode("2A52", payload)
    assert isinstance(answer, RecordAccessControlPoint)
    return answer


async def test_report_all_records_sends_every_record_then_success(world: World) -> None:
    """ "Report all records" notifies the stored records in order, then indicates Success."""
    async with _meter(world) as meter, world.client(meter) as client:
        measurements, racp = await _subscribe(client)
        answer = await _ask(client, racp, bytes(RecordAccessControlPoint.report_stored_records()))
        assert [decode("2A18", p) for p in await measurements.take(3)] == READINGS
        assert answer == RecordAccessControlPoint.response(
            RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.SUCCESS
        )


async def test_number_of_records_and_filters_count_the_matching_records(world: World) -> None:
    """ "Number of stored records" answers the count, for all records and a sequence filter."""
    async with _meter(world) as meter, world.client(meter) as client:
        _, racp = await _subscribe(client)
        every = RecordAccessControlPoint.report_number_of_stored_records()
        assert (await _ask(client, racp, bytes(every))).number_of_records == 3
        later = RecordAccessControlPoint.report_number_of_stored_records(
            RACPOperator.GREATER_THAN_OR_EQUAL_TO, minimum=2
        )
        assert (await _ask(client, racp, bytes(later))).number_of_records == 2


async def test_filtered_report_and_delete(world: World) -> None:
    """A time-filtered report sends only matching records; after a delete, none are found."""
    async with _meter(world) as meter, world.client(meter) as client:
        measurements, racp = await _subscribe(client)
        morning = RecordAccessControlPoint.report_stored_records(
            RACPOperator.WITHIN_RANGE_OF,
            minimum=DateTime(2026, 5, 1, 0, 0),
            maximum=DateTime(2026, 5, 1, 23, 59),
        )
        answer = await _ask(client, racp, bytes(morning))
        assert [decode("2A18", p) for p in await measurements.take(2)] == READINGS[:2]
        assert answer.response_code == RACPResponseCode.SUCCESS
        delete = RecordAccessControlPoint(
            RACPOpCode.DELETE_STORED_RECORDS, RACPOperator.ALL_RECORDS
        )
        assert (await _ask(client, racp, bytes(delete))).response_code == RACPResponseCode.SUCCESS
        assert meter.records == ()
        report = bytes(RecordAccessControlPoint.report_stored_records())
        assert (await _ask(client, racp, report)).response_code == RACPResponseCode.NO_RECORDS_FOUND


@pytest.mark.parametrize(
    ("request_hex", "op_code", "code"),
    [
        ("0100", RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.INVALID_OPERATOR),
        ("0107", RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.OPERATOR_NOT_SUPPORTED),
        ("0301", RACPOpCode.ABORT_OPERATION, RACPResponseCode.INVALID_OPERATOR),
        ("0901", 0x09, RACPResponseCode.OP_CODE_NOT_SUPPORTED),
        ("010301", RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.INVALID_OPERAND),
        ("0103090100", RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.OPERAND_NOT_SUPPORTED),
        ("01040103000100", RACPOpCode.REPORT_STORED_RECORDS, RACPResponseCode.INVALID_OPERAND),
    ],
)
async def test_bad_requests_get_the_right_response_code(
    world: World, request_hex: str, op_code: int, code: int
) -> None:
    """An invalid operator, operand or op code is answered with its RACP response code."""
    async with _meter(world) as meter, world.client(meter) as client:
        measurements, racp = await _subscribe(client)
        answer = await _ask(client, racp, bytes.fromhex(request_hex))
        assert answer == RecordAccessControlPoint.response(op_code, code)
        assert await measurements.quiet()


async def test_racp_write_without_subscriptions_is_refused_with_0xfd(world: World) -> None:
    """Writing the RACP before enabling notifications and indications answers ATT error 0xFD."""
    async with _meter(world) as meter, world.client(meter) as client:
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(
                "2a52", bytes(RecordAccessControlPoint.report_stored_records()), response=True
            )
        assert refused.value.code == 0xFD


async def test_context_follows_its_measurement(world: World) -> None:
    """A record stored with a context is reported with the flag set and its context after it."""
    context = GlucoseMeasurementContext(4, meal=1)
    async with GlucoseMeter(world.air) as meter, world.client(meter) as client:
        meter.store(GlucoseMeasurement(4, DateTime(2026, 5, 3, 8, 0), concentration=0.006), context)
        measurements, racp = await _subscribe(client)
        contexts = Inbox()
        await client.start_notify("2a34", contexts)
        await _ask(client, racp, bytes(RecordAccessControlPoint.report_stored_records()))
        (payload,) = await measurements.take()
        sent = decode("2A18", payload)
        assert isinstance(sent, GlucoseMeasurement)
        assert sent.context_follows
        assert [decode("2A34", p) for p in await contexts.take()] == [context]
