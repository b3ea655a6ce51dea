"""Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34 (Glucose service 0x1808).

Glucose Measurement: ``flags u8 | sequence number u16 | base time (Date Time 7)
| [time offset s16 min] (bit 0) | [concentration SFLOAT, type:4 | sample location:4] (bit 1)
| [sensor status annunciation u16] (bit 3)``; bit 2: 0 = kg/L, 1 = mol/L; bit 4: a context
(0x2A34) with the same sequence number follows. The type is the low nibble, the sample
location the high one. Unit trap: 100 mg/dL is sent as 0.001 kg/L, 5.5 mmol/L as
0.0055 mol/L; ``glucose_mmol_l`` converts either (molar mass 180.156 g/mol).

Context: ``flags u8 | sequence number u16 | [extended flags u8] (bit 7)
| [carbohydrate id u8, carbohydrate SFLOAT kg] (bit 0) | [meal u8] (bit 1)
| [tester:4 | health:4] (bit 2) | [exercise duration u16 s, intensity u8 %] (bit 3)
| [medication id u8, medication SFLOAT kg or L (bit 5)] (bit 4) | [HbA1c SFLOAT %] (bit 6)``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Final, final

from edge.decoders.base import (
    BitNames,
    JsonDict,
    OpenIntEnum,
    check_range,
    code_labels,
    fast_constructor,
    label_of,
    truncated,
)
from edge.decoders.date_time import DateTime
from edge.decoders.ieee11073 import SFLOAT_TABLE, encode_sfloat
from edge.decoders.units import GLUCOSE_G_PER_MOL, ConcentrationUnit

_S16: Final = struct.Struct("<h")
_U16: Final = struct.Struct("<H")
_MOL: Final = ConcentrationUnit.MOL_PER_L
#: kg/L -> mmol/L: x 1000 g/kg / 180.156 g/mol x 1000 mmol/mol.
_MMOL_PER_KG: Final = 1_000_000 / GLUCOSE_G_PER_MOL


class GlucoseFlags(enum.IntFlag):
    """Flags byte of the Glucose Measurement."""

    TIME_OFFSET_PRESENT = 0x01
    CONCENTRATION_TYPE_AND_LOCATION_PRESENT = 0x02
    UNIT_MOL_PER_L = 0x04
    SENSOR_STATUS_PRESENT = 0x08
    CONTEXT_FOLLOWS = 0x10


class GlucoseType(OpenIntEnum):
    """Sample type (low nibble)."""

    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(OpenIntEnum):
    """Sample location (high nibble)."""

    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class GlucoseSensorStatus(enum.IntFlag):
    """Sensor Status Annunciation (u16; bits 12-15 reserved)."""

    DEVICE_BATTERY_LOW = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    RESULT_TOO_HIGH = 1 << 5
    RESULT_TOO_LOW = 1 << 6
    SENSOR_TEMPERATURE_TOO_HIGH = 1 << 7
    SENSOR_TEMPERATURE_TOO_LOW = 1 << 8
    STRIP_PULLED_TOO_SOON = 1 << 9
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


_TYPE_LABELS: Final = code_labels(GlucoseType)
_LOCATION_LABELS: Final = code_labels(SampleLocation)
SENSOR_STATUS_NAMES: Final = BitNames(GlucoseSensorStatus, 16)


@final
@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """One stored glucose record (sent in answer to a RACP request)."""

    NAME: ClassVar[str] = "glucose_measurement"
    UUID: ClassVar[int] = 0x2A18
    Flags: ClassVar[type[GlucoseFlags]] = GlucoseFlags

    sequence_number: int
    base_time: DateTime
    time_offset: int | None = None
    concentration: float | None = None
    unit: ConcentrationUnit = ConcentrationUnit.KG_PER_L
    type: int | None = None
    sample_location: int | None = None
    sensor_status: int | None = None
    context_follows: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> GlucoseMeasurement:
        """Decode one notification; a bad payload raises ``DecodeError``."""
        size = len(data)
        if size < 10:
            field = "flags" if size == 0 else "sequence_number" if size < 3 else "base_time"
            truncated(cls.NAME, field, data, 10)
        flags = data[0]
        sequence = data[1] | data[2] << 8
        offset = 10
        time_offset = None
        if flags & 0x01:
            if size < 12:
                truncated(cls.NAME, "time_offset", data, 12, " (flags bit 0)")
            (time_offset,) = _S16.unpack_from(data, 10)
            offset = 12
        concentration = None
        kind = location = None
        if flags & 0x02:
            if size < offset + 3:
                field = "concentration" if size < offset + 2 else "type"
                truncated(cls.NAME, field, data, offset + 3, " (flags bit 1)")
            concentration = SFLOAT_TABLE[data[offset] | data[offset + 1] << 8]
            nibbles = data[offset + 2]
            kind = nibbles & 0x0F
            location = nibbles >> 4
            offset += 3
        status = None
        if flags & 0x08:
            if size < offset + 2:
                truncated(cls.NAME, "sensor_status", data, offset + 2, " (flags bit 3)")
            status = data[offset] | data[offset + 1] << 8
        return _new_GlucoseMeasurement(
            sequence,
            DateTime.unpack_from(data, 3),
            time_offset,
            concentration,
            _MOL if flags & 0x04 else ConcentrationUnit.KG_PER_L,
            kind,
            location,
            status,
            bool(flags & 0x10),
        )

    def __bytes__(self) -> bytes:
        name = self.NAME
        flags = 0x04 if self.unit == _MOL else 0
        if self.context_follows:
            flags |= 0x10
        out = bytearray(
            _U16.pack(check_range(name, "sequence_number", self.sequence_number, 0, 0xFFFF))
        )
        out += bytes(self.base_time)
        if self.time_offset is not None:
            flags |= 0x01
            out += _S16.pack(check_range(name, "time_offset", self.time_offset, -0x8000, 0x7FFF))
        if (
            self.concentration is not None
            or self.type is not None
            or self.sample_location is not None
        ):
            flags |= 0x02
            kind = check_range(name, "type", self.type or 0, 0, 0x0F)
            location = check_range(name, "sample_location", self.sample_location or 0, 0, 0x0F)
            out += _U16.pack(encode_sfloat(self.concentration))
            out.append(location << 4 | kind)
        if self.sensor_status is not None:
            flags |= 0x08
            out += _U16.pack(check_range(name, "sensor_status", self.sensor_status, 0, 0xFFFF))
        return bytes((flags,)) + bytes(out)

    @property
    def timestamp(self) -> str | None:
        """Base time plus time offset, ISO 8601 (``None`` when the base time is unknown)."""
        if not self.time_offset:
            return self.base_time.isoformat()
        base = self.base_time.to_datetime()
        if base is None:
            return None
        try:
            return (base + timedelta(minutes=self.time_offset)).isoformat()
        except OverflowError:
            return None

    @property
    def glucose_mmol_l(self) -> float | None:
        """The concentration in mmol/L, whichever unit was sent."""
        value = self.concentration
        if value is None:
            return None
        return value * 1000 if self.unit == _MOL else value * _MMOL_PER_KG

    def as_dict(self) -> JsonDict:
        """Sequence number, offset-applied timestamp, concentration as sent and in mmol/L."""
        base_time = self.base_time.isoformat()
        return {
            "sequence_number": self.sequence_number,
            "timestamp": self.timestamp if self.time_offset else base_time,
            "base_time": base_time,
            "time_offset_min": self.time_offset,
            "concentration": self.concentration,
            "concentration_unit": self.unit,
            "glucose_mmol_l": self.glucose_mmol_l,
            "type": label_of(_TYPE_LABELS, self.type),
            "sample_location": label_of(_LOCATION_LABELS, self.sample_location),
            "sensor_status": SENSOR_STATUS_NAMES(self.sensor_status),
            "context_follows": self.context_follows,
        }


_new_GlucoseMeasurement = fast_constructor(GlucoseMeasurement)


class GlucoseContextFlags(enum.IntFlag):
    """Flags byte of the Glucose Measurement Context."""

    CARBOHYDRATE_PRESENT = 0x01
    MEAL_PRESENT = 0x02
    TESTER_HEALTH_PRESENT = 0x04
    EXERCISE_PRESENT = 0x08
    MEDICATION_PRESENT = 0x10
    MEDICATION_UNIT_LITERS = 0x20
    HBA1C_PRESENT = 0x40
    EXTENDED_FLAGS_PRESENT = 0x80


class CarbohydrateId(OpenIntEnum):
    """Which meal the carbohydrates belong to."""

    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(OpenIntEnum):
    """When the sample was taken relative to a meal."""

    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


class Tester(OpenIntEnum):
    """Who took the sample (low nibble)."""

    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(OpenIntEnum):
    """Health state at sample time (high nibble)."""

    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(OpenIntEnum):
    """Kind of insulin."""

    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


_CARB_LABELS: Final = code_labels(CarbohydrateId)
_MEAL_LABELS: Final = code_labels(Meal)
_TESTER_LABELS: Final = code_labels(Tester)
_HEALTH_LABELS: Final = code_labels(Health)
_MEDICATION_LABELS: Final = code_labels(MedicationId)


@final
@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """Context of the glucose record with the same sequence number."""

    NAME: ClassVar[str] = "glucose_measurement_context"
    UUID: ClassVar[int] = 0x2A34
    Flags: ClassVar[type[GlucoseContextFlags]] = GlucoseContextFlags

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None
    carbohydrate: float | None = None
    meal: int | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: int | None = None
    medication: float | None = None
    medication_in_liters: bool = False
    hba1c: float | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> GlucoseMeasurementContext:
        """Decode one notification; a bad payload raises ``DecodeError``."""
        name = cls.NAME
        size = len(data)
        if size < 3:
            truncated(name, "flags" if size == 0 else "sequence_number", data, 3)
        flags = data[0]
        sequence = data[1] | data[2] << 8
        offset = 3
        extended = None
        if flags & 0x80:
            if size < offset + 1:
                truncated(name, "extended_flags", data, offset + 1, " (flags bit 7)")
            extended = data[offset]
            offset += 1
        carb_id = None
        carb = None
        if flags & 0x01:
            if size < offset + 3:
                field = "carbohydrate_id" if size == offset else "carbohydrate"
                truncated(name, field, data, offset + 3, " (flags bit 0)")
            carb_id = data[offset]
            carb = SFLOAT_TABLE[data[offset + 1] | data[offset + 2] << 8]
            offset += 3
        meal = None
        if flags & 0x02:
            if size < offset + 1:
                truncated(name, "meal", data, offset + 1, " (flags bit 1)")
            meal = data[offset]
            offset += 1
        tester = health = None
        if flags & 0x04:
            if size < offset + 1:
                truncated(name, "tester", data, offset + 1, " (flags bit 2)")
            tester = data[offset] & 0x0F
            health = data[offset] >> 4
            offset += 1
        duration = intensity = None
        if flags & 0x08:
            if size < offset + 3:
                field = "exercise_duration" if size < offset + 2 else "exercise_intensity"
                truncated(name, field, data, offset + 3, " (flags bit 3)")
            duration = data[offset] | data[offset + 1] << 8
            intensity = data[offset + 2]
            offset += 3
        medication_id = None
        medication = None
        if flags & 0x10:
            if size < offset + 3:
                field = "medication_id" if size == offset else "medication"
                truncated(name, field, data, offset + 3, " (flags bit 4)")
            medication_id = data[offset]
            medication = SFLOAT_TABLE[data[offset + 1] | data[offset + 2] << 8]
            offset += 3
        hba1c = None
        if flags & 0x40:
            if size < offset + 2:
                truncated(name, "hba1c", data, offset + 2, " (flags bit 6)")
            hba1c = SFLOAT_TABLE[data[offset] | data[offset + 1] << 8]
        return _new_GlucoseMeasurementContext(
            sequence,
            extended,
            carb_id,
            carb,
            meal,
            tester,
            health,
            duration,
            intensity,
            medication_id,
            medication,
            bool(flags & 0x20),
            hba1c,
        )

    def __bytes__(self) -> bytes:
        name = self.NAME
        flags = 0x20 if self.medication_in_liters else 0
        out = bytearray()
        if self.extended_flags is not None:
            flags |= 0x80
            out.append(check_range(name, "extended_flags", self.extended_flags, 0, 0xFF))
        if self.carbohydrate_id is not None or self.carbohydrate is not None:
            flags |= 0x01
            out.append(check_range(name, "carbohydrate_id", self.carbohydrate_id or 0, 0, 0xFF))
            out += _U16.pack(encode_sfloat(self.carbohydrate))
        if self.meal is not None:
            flags |= 0x02
            out.append(check_range(name, "meal", self.meal, 0, 0xFF))
        if self.tester is not None or self.health is not None:
            flags |= 0x04
            tester = check_range(name, "tester", self.tester or 0, 0, 0x0F)
            health = check_range(name, "health", self.health or 0, 0, 0x0F)
            out.append(health << 4 | tester)
        if self.exercise_duration is not None or self.exercise_intensity is not None:
            flags |= 0x08
            out += _U16.pack(
                check_range(name, "exercise_duration", self.exercise_duration or 0, 0, 0xFFFF)
            )
            out.append(
                check_range(name, "exercise_intensity", self.exercise_intensity or 0, 0, 0xFF)
            )
        if self.medication_id is not None or self.medication is not None:
            flags |= 0x10
            out.append(check_range(name, "medication_id", self.medication_id or 0, 0, 0xFF))
            out += _U16.pack(encode_sfloat(self.medication))
        if self.hba1c is not None:
            flags |= 0x40
            out += _U16.pack(encode_sfloat(self.hba1c))
        sequence = check_range(name, "sequence_number", self.sequence_number, 0, 0xFFFF)
        return bytes((flags,)) + _U16.pack(sequence) + bytes(out)

    def as_dict(self) -> JsonDict:
        """Context fields with code labels; carbohydrate in kg, medication in kg or L."""
        liters = self.medication_in_liters
        medication = self.medication
        return {
            "sequence_number": self.sequence_number,
            "extended_flags": self.extended_flags,
            "carbohydrate_id": label_of(_CARB_LABELS, self.carbohydrate_id),
            "carbohydrate_kg": self.carbohydrate,
            "meal": label_of(_MEAL_LABELS, self.meal),
            "tester": label_of(_TESTER_LABELS, self.tester),
            "health": label_of(_HEALTH_LABELS, self.health),
            "exercise_duration_s": self.exercise_duration,
            "exercise_intensity_percent": self.exercise_intensity,
            "medication_id": label_of(_MEDICATION_LABELS, self.medication_id),
            "medication": medication,
            "medication_unit": None
            if self.medication_id is None and medication is None
            else ("L" if liters else "kg"),
            "medication_kg": None if liters else medication,
            "medication_l": medication if liters else None,
            "hba1c_percent": self.hba1c,
        }


_new_GlucoseMeasurementContext = fast_constructor(GlucoseMeasurementContext)
