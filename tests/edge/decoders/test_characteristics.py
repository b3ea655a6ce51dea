"""Behaviour of the individual decoders beyond the shared vectors."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.decoders import (
    BatteryLevel,
    BloodPressureMeasurement,
    BodyCompositionMeasurement,
    ConcentrationUnit,
    CurrentTime,
    DateTime,
    GlucoseMeasurement,
    HeartRateMeasurement,
    MiBandHeartRate,
    MiBodyScale,
    MiScale,
    PressureUnit,
    RecordAccessControlPoint,
    TemperatureMeasurement,
    TemperatureType,
    TemperatureUnit,
    WeightMeasurement,
    WeightScaleFeature,
    WeightUnit,
    merge_body_composition,
)
from edge.decoders.racp import RACPOperator, RACPResponseCode
from edge.errors import DecodeError, EncodeError


def test_unknown_date_time_has_no_iso_form() -> None:
    """Year, month or day 0 means "not known": the timestamp is null."""
    assert DateTime(0, 4, 17, 20, 41, 59).isoformat() is None
    assert DateTime(2020, 0, 17).isoformat() is None
    assert DateTime(2020, 4, 0).isoformat() is None
    assert DateTime(2020, 4, 17, 20, 41, 59).isoformat() == "2020-04-17T20:41:59"


def test_out_of_calendar_date_time_is_null_not_an_error() -> None:
    """A clock outside the calendar gives a null timestamp; the leap day is respected."""
    assert DateTime(2021, 2, 29).isoformat() is None
    assert DateTime(2024, 2, 29).isoformat() == "2024-02-29T00:00:00"
    assert DateTime(2024, 13, 1).isoformat() is None
    assert DateTime(2024, 1, 1, 24).isoformat() is None
    assert DateTime(10000, 1, 1).isoformat() is None


def test_heart_rate_rr_intervals_encode_exactly() -> None:
    """0.8 s is sent as round(0.8 * 1024) = 819, not truncated like bumble's encoder."""
    payload = bytes(HeartRateMeasurement(60, rr_intervals=(0.8,)))
    assert payload == bytes.fromhex("103c3303")
    assert HeartRateMeasurement.from_bytes(payload).rr_intervals == (819 / 1024,)


def test_heart_rate_odd_rr_tail_is_rejected() -> None:
    """An RR list with a dangling byte names the rr_intervals field."""
    with pytest.raises(DecodeError, match="rr_intervals"):
        HeartRateMeasurement.from_bytes(bytes.fromhex("1048000401"))


def test_blood_pressure_in_kpa_converts_to_mmhg() -> None:
    """A kPa reading keeps kPa as sent and converts the _mmhg fields."""
    reading = BloodPressureMeasurement(16.0, 10.7, 12.5, PressureUnit.KPA)
    result = BloodPressureMeasurement.from_bytes(bytes(reading)).as_dict()
    assert result["unit"] == "kPa"
    assert result["systolic"] == 16.0
    assert result["systolic_mmhg"] == pytest.approx(120.0, abs=0.05)


def test_blood_pressure_special_values_and_unknown_user_are_null() -> None:
    """NaN/NRes pressures and user 0xFF become null, never numbers."""
    payload = bytes.fromhex("08ff0700087800ff")
    result = BloodPressureMeasurement.from_bytes(payload).as_dict()
    assert result["systolic"] is None
    assert result["diastolic"] is None
    assert result["mean_arterial_pressure"] == 120.0
    assert result["user_id"] is None


def test_blood_pressure_pulse_rate_range_is_named() -> None:
    """Status bits 3-4 give the pulse-rate range."""
    above = BloodPressureMeasurement(120, 80, 93, measurement_status=0x0008).as_dict()
    below = BloodPressureMeasurement(120, 80, 93, measurement_status=0x0010).as_dict()
    assert above["pulse_rate_range"] == "above_upper_limit"
    assert below["pulse_rate_range"] == "below_lower_limit"
    assert above["measurement_status"] == []


def test_weight_unsuccessful_is_null_and_pounds_convert() -> None:
    """0xFFFF is "measurement unsuccessful"; imperial weight and height convert to kg/m."""
    assert WeightMeasurement.from_bytes(bytes.fromhex("00ffff")).as_dict()["weight"] is None
    reading = WeightMeasurement.from_bytes(bytes.fromhex("09701744004402"))
    result = reading.as_dict()
    assert result["unit"] == "lb"
    assert result["weight"] == 60.0
    assert result["weight_kg"] == pytest.approx(27.2155422)
    assert result["height"] == 58.0
    assert result["height_m"] == pytest.approx(1.4732)


def test_weight_scale_feature_reports_precision_without_rescaling() -> None:
    """The feature's resolution is reported; the 0.005 kg unit of the weight is kept."""
    feature = WeightScaleFeature.from_bytes(bytes.fromhex("9f010000"))
    assert feature.weight_resolution == 3
    assert feature.height_resolution == 3
    reading = WeightMeasurement.from_bytes(bytes.fromhex("007800"), feature)
    result = reading.as_dict()
    assert result["weight"] == 0.6
    assert result["weight_resolution_kg"] == 0.1
    assert result["height_resolution_m"] == 0.001
    assert reading.with_feature(None).as_dict()["weight_resolution_kg"] is None


def test_weight_needs_bmi_and_height_together() -> None:
    """Encoding BMI without height is our mistake: EncodeError."""
    with pytest.raises(EncodeError, match="bmi"):
        bytes(WeightMeasurement(70.0, bmi=22.0))


def test_body_composition_packets_merge() -> None:
    """The two packets of a multiple-packet measurement merge into one reading."""
    first = BodyCompositionMeasurement(20.5, user_id=1, basal_metabolism=6000, multiple_packet=True)
    second = BodyCompositionMeasurement(None, user_id=1, weight=70.0, multiple_packet=True)
    parts = [BodyCompositionMeasurement.from_bytes(bytes(p)) for p in (first, second)]
    merged = merge_body_composition(parts)
    assert merged.body_fat_percentage == 20.5
    assert merged.basal_metabolism == 6000
    assert merged.weight == 70.0
    assert merged.multiple_packet is False


def test_body_composition_conflicting_packets_are_rejected() -> None:
    """Packets that disagree on a field, or on the unit, raise DecodeError naming it."""
    a = BodyCompositionMeasurement(20.5, weight=70.0)
    b = BodyCompositionMeasurement(20.5, weight=71.0)
    with pytest.raises(DecodeError) as caught:
        merge_body_composition([a, b])
    assert caught.value.field == "weight"
    with pytest.raises(DecodeError) as caught:
        merge_body_composition([a, BodyCompositionMeasurement(20.5, unit=WeightUnit.LB)])
    assert caught.value.field == "flags"
    with pytest.raises(DecodeError):
        merge_body_composition([])


def test_fahrenheit_converts_to_celsius_and_types_are_open() -> None:
    """98.6 F is 37 C; an unassigned type code is reserved_<n>, not an error."""
    reading = TemperatureMeasurement(98.6, TemperatureUnit.FAHRENHEIT, temperature_type=42)
    result = TemperatureMeasurement.from_bytes(bytes(reading)).as_dict()
    assert result["temperature_c"] == pytest.approx(37.0)
    assert result["temperature_type"] == "reserved_42"
    assert TemperatureType(42).label == "reserved_42"
    assert reading.type == 42


def test_glucose_units_convert_to_mmol_per_l() -> None:
    """0.0055 mol/L and 0.001 kg/L (100 mg/dL) both convert to mmol/L."""
    stamp = DateTime(2024, 1, 1, 8, 0, 0)
    molar = GlucoseMeasurement(1, stamp, concentration=0.0055, unit=ConcentrationUnit.MOL_PER_L)
    mass = GlucoseMeasurement(2, stamp, concentration=0.001)
    assert GlucoseMeasurement.from_bytes(bytes(molar)).glucose_mmol_l == pytest.approx(5.5)
    assert GlucoseMeasurement.from_bytes(bytes(mass)).glucose_mmol_l == pytest.approx(5.5507, 1e-4)


def test_glucose_offset_with_unknown_base_time_is_null() -> None:
    """The offset-applied timestamp is null when the base time is unknown."""
    reading = GlucoseMeasurement(1, DateTime(0, 0, 0), time_offset=10)
    assert reading.as_dict()["timestamp"] is None
    late = GlucoseMeasurement(1, DateTime(9999, 12, 31, 23, 59, 0), time_offset=30000)
    assert late.as_dict()["timestamp"] is None


def test_racp_requests_and_responses_build_and_parse() -> None:
    """The simulator's RACP messages encode to the documented bytes and parse back."""
    ge = RecordAccessControlPoint.report_stored_records(
        RACPOperator.GREATER_THAN_OR_EQUAL_TO, minimum=10
    )
    assert bytes(ge) == bytes.fromhex("0103010a00")
    assert bytes(RecordAccessControlPoint.report_stored_records()) == bytes.fromhex("0101")
    assert bytes(RecordAccessControlPoint.report_number_of_stored_records()) == b"\x04\x01"
    count = RecordAccessControlPoint.number_of_stored_records_response(3)
    assert bytes(count) == bytes.fromhex("05000300")
    done = RecordAccessControlPoint.response(1, RACPResponseCode.NO_RECORDS_FOUND)
    assert RecordAccessControlPoint.from_bytes(bytes(done)).as_dict()["response_code"] == (
        "no_records_found"
    )
    by_time = RecordAccessControlPoint.report_stored_records(
        RACPOperator.WITHIN_RANGE_OF, minimum=DateTime(2024, 1, 1), maximum=DateTime(2024, 2, 1)
    )
    assert RecordAccessControlPoint.from_bytes(bytes(by_time)) == by_time


@pytest.mark.parametrize(
    ("hex_payload", "field"),
    [
        ("01", "operator"),
        ("0103", "filter_type"),
        ("010301ff", "operand"),
        ("0101ff", "operand"),
        ("0600", "request_op_code"),
        ("050001", "number_of_records"),
        ("0300ff", "operand"),
    ],
)
def test_racp_malformed_request_names_the_field(hex_payload: str, field: str) -> None:
    """A malformed RACP message names the field a server answers about."""
    with pytest.raises(DecodeError) as caught:
        RecordAccessControlPoint.from_bytes(bytes.fromhex(hex_payload))
    assert caught.value.field == field


def test_current_time_from_datetime() -> None:
    """Current Time carries the weekday and 1/256 s fractions."""
    value = CurrentTime.from_datetime(datetime(2024, 3, 4, 5, 6, 7, 500000), adjust_reason=1)
    assert bytes(value) == bytes.fromhex("e8070304050607018001")
    result = CurrentTime.from_bytes(bytes(value)).as_dict()
    assert result["day_of_week"] == "monday"
    assert result["fraction_s"] == 0.5
    assert result["adjust_reason"] == ["manual_time_update"]


def test_battery_level_above_100_is_rejected() -> None:
    """Battery levels are 0-100 %."""
    assert BatteryLevel.from_bytes(b"\x64").as_dict() == {"battery_level_percent": 100}
    with pytest.raises(DecodeError, match="level"):
        BatteryLevel.from_bytes(b"\x65")


def test_mi_scale_units_and_flags() -> None:
    """Jin converts at 0.5 kg; the removed bit is reported, not hidden."""
    jin = MiScale.from_bytes(bytes.fromhex("b0f401e607020e10293a"))
    result = jin.as_dict()
    assert result["unit"] == "jin"
    assert result["weight"] == 5.0
    assert result["weight_kg"] == 2.5
    assert result["stabilized"] is True
    assert result["load_removed"] is True
    with pytest.raises(DecodeError, match="payload"):
        MiScale.from_bytes(bytes.fromhex("223e30e607020e10293a00"))


def test_mi_body_scale_without_impedance_bit_has_null_impedance() -> None:
    """Impedance is only reported when control bit 9 says it is present."""
    result = MiBodyScale.from_bytes(bytes.fromhex("0224e607020e10293af7019a38")).as_dict()
    assert result["impedance_ohm"] is None
    assert result["weight_kg"] == 72.45


def test_mi_band_heart_rate_from_bleak_form_and_none() -> None:
    """bleak's company-id-less manufacturer data decodes; 0xFF is no heart rate."""
    frame = bytes.fromhex("0202 01 ff" + "ff" * 13 + "02 aabbccddeeff")
    band = MiBandHeartRate.from_manufacturer_data(0x0157, frame)
    assert band.as_dict() == {"heart_rate_bpm": None, "mac": "AA:BB:CC:DD:EE:FF"}
    with pytest.raises(DecodeError, match="company_id"):
        MiBandHeartRate.from_manufacturer_data(0x004C, frame)
