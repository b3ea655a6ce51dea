"""The simulators' pure parts: RACP decisions, fault transforms, adverts, addresses, errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carepulse.errors import CarepulseError
from edge.decoders import (
    BloodPressureMeasurement,
    DateTime,
    GlucoseMeasurement,
    HeartRateMeasurement,
    RecordAccessControlPoint,
)
from edge.decoders.racp import RACPOpCode, RACPOperator, RACPResponseCode
from simulators.ble.advertising import LEGACY_ADVERT_SIZE, build_advert
from simulators.ble.air import VirtualAir, normalize_address
from simulators.clock import DeviceClock
from simulators.errors import AddressInUseError, AdvertTooLongError, SimulatorError
from simulators.faults import malform, shift_timestamps
from simulators.racp import RecordKeys, answer

RECORDS = [GlucoseMeasurement(n, DateTime(2026, 5, n, 8, 0)) for n in (1, 2, 5)]
KEYS: RecordKeys[GlucoseMeasurement] = RecordKeys(
    sequence_number=lambda record: record.sequence_number,
    facing_time=lambda record: record.base_time.to_datetime(),
)


@pytest.mark.parametrize(
    ("request_msg", "report", "number"),
    [
        (RecordAccessControlPoint.report_stored_records(), (0, 1, 2), None),
        (RecordAccessControlPoint.report_stored_records(RACPOperator.FIRST_RECORD), (0,), None),
        (RecordAccessControlPoint.report_stored_records(RACPOperator.LAST_RECORD), (2,), None),
        (
            RecordAccessControlPoint.report_stored_records(
                RACPOperator.LESS_THAN_OR_EQUAL_TO, maximum=2
            ),
            (0, 1),
            None,
        ),
        (
            RecordAccessControlPoint.report_number_of_stored_records(
                RACPOperator.GREATER_THAN_OR_EQUAL_TO, minimum=DateTime(2026, 5, 2)
            ),
            (),
            2,
        ),
    ],
)
def test_racp_selects_records_by_operator_and_filter(
    request_msg: RecordAccessControlPoint, report: tuple[int, ...], number: int | None
) -> None:
    """The RACP planner picks the records each operator and filter asks for."""
    plan = answer(bytes(request_msg), RECORDS, KEYS)
    assert plan.report == report
    assert plan.response.number_of_records == number


def test_racp_abort_succeeds_and_empty_write_is_an_unsupported_op_code() -> None:
    """Abort answers Success with the abort flag; an empty write answers Op Code Not Supported."""
    plan = answer(b"\x03\x00", RECORDS, KEYS)
    assert plan.abort
    assert plan.response == RecordAccessControlPoint.response(
        RACPOpCode.ABORT_OPERATION, RACPResponseCode.SUCCESS
    )
    empty = answer(b"", RECORDS, KEYS).response
    assert empty.response_code == RACPResponseCode.OP_CODE_NOT_SUPPORTED


def test_delete_with_nothing_stored_finds_no_records() -> None:
    """Deleting from an empty store answers No Records Found."""
    request = RecordAccessControlPoint(RACPOpCode.DELETE_STORED_RECORDS, RACPOperator.ALL_RECORDS)
    plan = answer(bytes(request), [], KEYS)
    assert plan.delete == ()
    assert plan.response.response_code == RACPResponseCode.NO_RECORDS_FOUND


def test_malform_always_leaves_a_shorter_nonempty_payload() -> None:
    """A malformed payload is never empty and always shorter than the original."""
    payload = bytes(HeartRateMeasurement(70, rr_intervals=(0.75,)))
    assert malform(payload) == payload[:1]
    assert malform(b"\x01") == b"\x01"
    assert malform(b"") == b"\x00"
    assert malform(payload, keep=100) == payload[:-1]


def test_shift_timestamps_moves_device_time_and_leaves_others_alone() -> None:
    """A clock offset moves ``timestamp`` and ``base_time``; unknown or absent stamps stay."""
    bp = BloodPressureMeasurement(120.0, 80.0, 93.0, timestamp=DateTime(2026, 1, 1, 0, 30))
    shifted = shift_timestamps(bp, timedelta(hours=-1))
    assert shifted.timestamp == DateTime(2025, 12, 31, 23, 30)
    unknown = BloodPressureMeasurement(120.0, 80.0, 93.0, timestamp=DateTime(0, 0, 0))
    assert shift_timestamps(unknown, timedelta(hours=1)) == unknown
    plain = HeartRateMeasurement(60)
    assert shift_timestamps(plain, timedelta(hours=1)) is plain
    glucose = shift_timestamps(RECORDS[0], timedelta(days=1))
    assert glucose.base_time == DateTime(2026, 5, 2, 8, 0)


def test_device_clock_set_and_offset() -> None:
    """Setting a device clock records its offset from the true time."""
    now = datetime(2026, 5, 1, 12, 0)
    clock = DeviceClock(lambda: now)
    clock.set(now + timedelta(minutes=5))
    assert clock.offset == timedelta(minutes=5)
    assert clock.now() == now + timedelta(minutes=5)
    assert clock.true_now() == now


def test_long_names_are_shortened_and_oversized_adverts_refused() -> None:
    """A name that does not fit is shortened; data that does not fit raises AdvertTooLongError."""
    advert = build_advert("dev", name="A very long device name indeed", service_uuids=(0x180D,))
    assert len(advert) == LEGACY_ADVERT_SIZE
    assert advert[-(LEGACY_ADVERT_SIZE - 9) :].startswith(b"\x08") is False
    with pytest.raises(AdvertTooLongError) as refused:
        build_advert("dev", manufacturer_data={0x0157: bytes(30)})
    assert refused.value.size > LEGACY_ADVERT_SIZE
    assert isinstance(refused.value, SimulatorError)
    assert isinstance(refused.value, CarepulseError)


async def test_air_allocates_distinct_addresses_and_refuses_reuse() -> None:
    """The air hands out distinct static random addresses and refuses a second radio on one."""
    air = VirtualAir()
    first, second = air.allocate_address(), air.allocate_address()
    central = air.allocate_address(central=True)
    assert len({first, second, central}) == 3
    assert int(first[:2], 16) >> 6 == 3
    radio = await air.open_radio("one", first)
    try:
        with pytest.raises(AddressInUseError):
            await air.open_radio("two", first.lower())
    finally:
        await air.close_radio(radio)
    assert normalize_address("ca-7e-00-00-00-01/P") == "CA:7E:00:00:00:01"
