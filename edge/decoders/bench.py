"""Benchmark: our decoders against PyPI ``bluetooth-sig`` 0.6.0 on the same payloads.

Run ``python -m edge.decoders.bench`` (add ``--json`` for one JSON object). Both
libraries decode the same mixed set of payloads in the same process; the figure is the
median over ``--repeat`` runs of ``--number`` passes, in microseconds per payload:

* ``carepulse``: ``edge.decoders.decode(uuid, payload).as_dict()``, dispatch by UUID
  string, JSON-ready dict out;
* ``bluetooth_sig``: ``BluetoothSIGTranslator().parse_characteristic(uuid, payload)``,
  the same call shape (dispatch by UUID string), typed struct out;
* ``bluetooth_sig_direct``: ``<Characteristic>().parse_value(payload)`` on instances
  made once, its fastest path (no dispatch, no dict).

It also counts payloads where bluetooth-sig's numbers disagree with ours, or where it
raises: it reads IEEE-11073 exponents with a bias (``nibble - 8``), so every SFLOAT/FLOAT
field comes out wrong (138 mmHg as 1.38e-06).

``bluetooth-sig`` is a bench-only dependency (dependency group ``bench``); this module
is the only place that imports it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from edge.decoders import (
    BodyCompositionMeasurement,
    ConcentrationUnit,
    CurrentTime,
    DateTime,
    GlucoseMeasurement,
    PLXSpotCheckMeasurement,
    WeightMeasurement,
    decode,
)

_STAMP: Final = DateTime(2026, 11, 27, 8, 30, 0)

#: (UUID, payload, what it is). HR x2, BP, weight and temperature first (the research
#: mix in measured.md), then every other characteristic both libraries decode.
PAYLOADS: Final[tuple[tuple[str, bytes, str], ...]] = (
    ("2A37", bytes.fromhex("1e5532002100"), "HR 85, contact, energy, 1 RR (Nordic H3)"),
    ("2A37", bytes.fromhex("1f0101320101000201ffff"), "HR 257 u16, energy, 3 RR (Nordic H4)"),
    ("2A35", bytes.fromhex("1c8a00580078003c00012700"), "BP 138/88/120 mmHg, pulse 60"),
    ("2A9D", bytes.fromhex("00b036"), "weight 70.0 kg (bluetooth-sig W1)"),
    ("2A1C", bytes.fromhex("06b00e00fedc070c050b321b04"), "37.60 C, time, finger (Nordic T1)"),
    (
        "2A9D",
        bytes(WeightMeasurement(70.0, timestamp=_STAMP, user_id=1, bmi=22.9, height=1.748)),
        "weight with time, user, BMI and height",
    ),
    (
        "2A9C",
        bytes(
            BodyCompositionMeasurement(
                20.5,
                timestamp=_STAMP,
                user_id=1,
                basal_metabolism=6000,
                muscle_percentage=40.0,
                impedance=500.0,
                weight=70.0,
                height=1.75,
            )
        ),
        "body composition, 7 optional fields",
    ),
    ("2A5F", bytes.fromhex("0064005a00"), "PLX continuous SpO2 100, PR 90 (Spezi X1)"),
    (
        "2A5E",
        bytes(PLXSpotCheckMeasurement(97.0, 72.0, timestamp=_STAMP, measurement_status=0x0080)),
        "PLX spot-check SpO2 97, PR 72, time, status",
    ),
    (
        "2A18",
        bytes(
            GlucoseMeasurement(
                7,
                _STAMP,
                time_offset=0,
                concentration=0.0055,
                unit=ConcentrationUnit.MOL_PER_L,
                type=1,
                sample_location=1,
            )
        ),
        "glucose 5.5 mmol/L (0.0055 mol/L), capillary whole blood, finger",
    ),
    ("2A52", bytes.fromhex("06000101"), "RACP response: success (Nordic R1)"),
    ("2A2B", bytes(CurrentTime(_STAMP, 5, 0, 1)), "current time"),
    ("2A19", bytes((85,)), "battery 85 %"),
)

_CHARACTERISTIC_CLASSES: Final = {
    "2A37": "HeartRateMeasurementCharacteristic",
    "2A35": "BloodPressureMeasurementCharacteristic",
    "2A9D": "WeightMeasurementCharacteristic",
    "2A1C": "TemperatureMeasurementCharacteristic",
    "2A9C": "BodyCompositionMeasurementCharacteristic",
    "2A5F": "PLXContinuousMeasurementCharacteristic",
    "2A5E": "PLXSpotCheckMeasurementCharacteristic",
    "2A18": "GlucoseMeasurementCharacteristic",
    "2A52": "RecordAccessControlPointCharacteristic",
    "2A2B": "CurrentTimeCharacteristic",
    "2A19": "BatteryLevelCharacteristic",
}

#: Our ``as_dict()`` key -> bluetooth-sig attribute path, per UUID: the numbers compared.
_COMPARED: Final[dict[str, dict[str, str]]] = {
    "2A37": {"heart_rate_bpm": "heart_rate", "energy_expended_kj": "energy_expended"},
    "2A35": {
        "systolic": "systolic",
        "diastolic": "diastolic",
        "mean_arterial_pressure": "mean_arterial_pressure",
        "pulse_rate_bpm": "optional_fields.pulse_rate",
    },
    "2A9D": {"weight": "weight", "bmi": "bmi", "height": "height"},
    "2A1C": {"temperature": "temperature"},
    "2A9C": {
        "body_fat_percent": "body_fat_percentage",
        "basal_metabolism_kj": "basal_metabolism",
        "muscle_percent": "muscle_percentage",
        "impedance_ohm": "impedance",
        "weight": "weight",
        "height": "height",
    },
    "2A5F": {"spo2_percent": "spo2", "pulse_rate_bpm": "pulse_rate"},
    "2A5E": {"spo2_percent": "spo2", "pulse_rate_bpm": "pulse_rate"},
    "2A18": {"concentration": "glucose_concentration", "sequence_number": "sequence_number"},
    "2A52": {},
    "2A2B": {"fractions256": "fractions256"},
    "2A19": {},
}


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One payload where bluetooth-sig's result differs from ours (or it raised)."""

    uuid: str
    what: str
    detail: str


def _attr(obj: object, path: str) -> object:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _same(ours: object, theirs: object) -> bool:
    if ours is None or theirs is None:
        return ours is theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)
    return ours == theirs


def compare(translator: Any) -> list[Disagreement]:
    """Decode every payload with both libraries and list where the numbers differ."""
    found: list[Disagreement] = []
    for uuid, payload, what in PAYLOADS:
        ours = decode(uuid, payload).as_dict()
        try:
            theirs = translator.parse_characteristic(uuid, payload)
        except Exception as exc:
            found.append(Disagreement(uuid, what, f"raised {type(exc).__name__}: {exc}"))
            continue
        if uuid == "2A19":
            pairs = [("battery_level_percent", ours["battery_level_percent"], theirs)]
        else:
            pairs = [(key, ours[key], _attr(theirs, path)) for key, path in _COMPARED[uuid].items()]
        wrong = [f"{key}: ours {a!r}, theirs {b!r}" for key, a, b in pairs if not _same(a, b)]
        if wrong:
            found.append(Disagreement(uuid, what, "; ".join(wrong)))
    return found


def _median_us(run: Callable[[], object], number: int, repeat: int) -> float:
    runs = timeit.Timer(run).repeat(repeat=repeat, number=number)
    return statistics.median(runs) / (number * len(PAYLOADS)) * 1e6


def measure(number: int = 2000, repeat: int = 7) -> dict[str, Any]:
    """Time both libraries on ``PAYLOADS``; return the report as a JSON-ready dict."""
    sig = importlib.import_module("bluetooth_sig")
    characteristics = importlib.import_module("bluetooth_sig.gatt.characteristics")
    translator = sig.BluetoothSIGTranslator()
    direct = [
        (getattr(characteristics, _CHARACTERISTIC_CLASSES[uuid])(), bytearray(payload))
        for uuid, payload, _ in PAYLOADS
    ]
    pairs = [(uuid, payload) for uuid, payload, _ in PAYLOADS]

    def ours() -> None:
        for uuid, payload in pairs:
            decode(uuid, payload).as_dict()

    def theirs() -> None:
        for uuid, payload in pairs:
            try:
                translator.parse_characteristic(uuid, payload)
            except Exception:  # noqa: S112 - timed like a caller that drops failures
                continue

    def theirs_direct() -> None:
        for characteristic, payload in direct:
            try:
                characteristic.parse_value(payload)
            except Exception:  # noqa: S112 - timed like a caller that drops failures
                continue

    for warm in (ours, theirs, theirs_direct):
        warm()
    disagreements = compare(translator)
    carepulse_us = _median_us(ours, number, repeat)
    sig_us = _median_us(theirs, number, repeat)
    direct_us = _median_us(theirs_direct, number, repeat)
    return {
        "payloads": len(PAYLOADS),
        "number": number,
        "repeat": repeat,
        "bluetooth_sig_version": getattr(sig, "__version__", "unknown"),
        "carepulse_us_per_payload": round(carepulse_us, 3),
        "bluetooth_sig_us_per_payload": round(sig_us, 3),
        "bluetooth_sig_direct_us_per_payload": round(direct_us, 3),
        "speedup": round(sig_us / carepulse_us, 1),
        "speedup_vs_direct": round(direct_us / carepulse_us, 1),
        "disagreements": len(disagreements),
        "disagreement_details": [
            {"uuid": d.uuid, "payload": d.what, "detail": d.detail} for d in disagreements
        ],
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print the report as text or (``--json``) as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m edge.decoders.bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--number", type=int, default=2000, help="passes per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (median is reported)")
    args = parser.parse_args(argv)
    report = measure(args.number, args.repeat)
    if args.json:
        print(json.dumps(report))  # noqa: T201 - the report is this command's output
        return
    lines = [
        f"{report['payloads']} payloads, median of {args.repeat} x {args.number} passes",
        f"carepulse decode()+as_dict():           {report['carepulse_us_per_payload']:8.2f} us",
        f"bluetooth-sig parse_characteristic():   {report['bluetooth_sig_us_per_payload']:8.2f} us"
        f"  ({report['speedup']}x slower)",
        f"bluetooth-sig Characteristic.parse_value: "
        f"{report['bluetooth_sig_direct_us_per_payload']:6.2f} us"
        f"  ({report['speedup_vs_direct']}x slower)",
        f"payloads where bluetooth-sig {report['bluetooth_sig_version']} disagrees: "
        f"{report['disagreements']} of {report['payloads']}",
    ]
    lines += [
        f"  {d['uuid']} {d['payload']}: {d['detail']}" for d in report["disagreement_details"]
    ]
    print("\n".join(lines))  # noqa: T201 - the report is this command's output


if __name__ == "__main__":
    main()
