"""No-data watchdog decisions (pure): no check-in, device offline, battery low.

* **No check-in** (clinical): a resident whose latest reading is ``days`` old gets
  ``checkin.none`` (engagement: invite them back); at twice that, ``checkin.none_long``
  (follow-up: someone should check on them). ``days`` comes from the resident's entry,
  their cohort (e.g. diabetic: 3 days) or the worker's default (:mod:`stream.residents`).
* **Device offline** (technical): a device whose ``last_seen`` in the gateway's heartbeat
  (or, if the gateway stopped reporting, whose latest heartbeat) is ``hours`` old.
* **Battery** (technical): below 20 % ``device.battery_low``, below 5 %
  ``device.battery_critical``; each clears 5 points above its threshold (hysteresis, so a
  battery hovering at 19-21 % does not flap).

Technical alerts are ``category="technical"``, out of the clinical queue. Their
``subject_id`` is the **resident** the device belongs to (learned from the readings the
worker sees), so the alert service's inhibition "a device offline mutes the resident's
check-in alert" matches; the device itself is named in the evidence (``device_id``). A
device whose resident is not known yet (no reading seen) falls back to a device
pseudonym (:func:`device_subject`). Every alert id is derived from the device and the
episode (the last-seen time it is about), so a re-raised alert has the same id and the
alert service folds it.

**Time scale (simulations only).** Every silence is ``(now - since) * scale`` seconds
(:func:`elapsed`). ``scale`` is 1 on a real station. A simulation running ``scale``
simulated seconds per wall second sets it so that hours of simulated silence, which last
seconds of wall time, reach the thresholds. Under a scale the no-check-in silence is
measured from the gateway's receipt of the resident's latest reading instead of its event
time (:func:`checkin_since`): a simulator's device time stamps are simulated time while
readings without a stamp carry the gateway's wall clock, so event times mix two clocks;
receipt times and heartbeats are all on the wall clock the scale applies to. Alerts raised
under a scale say so (``time_scale`` in their evidence values).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from carepulse.alert import Alert, Category, Severity, Status, alert_id_for
from carepulse.observation import format_time, parse_time

WATCHDOG_SOURCE: Final = (
    "carepulse no-data watchdog: no reading from any of the resident's devices for the "
    "configured period (default or cohort rule, e.g. diabetic: 3 days)"
)
DEVICE_SOURCE: Final = (
    "carepulse device watchdog: gateway heartbeat last_seen (RADAR-base style no-data monitor)"
)
BATTERY_SOURCE: Final = (
    "carepulse device watchdog: battery thresholds 20 % (low) and 5 % (critical)"
)
BATTERY_LOW: Final = 20
BATTERY_CRITICAL: Final = 5
BATTERY_HYSTERESIS: Final = 5


def device_subject(station_id: str, device_id: str) -> str:
    """A pseudonym-shaped id for a device's technical alerts."""
    return hashlib.sha256(f"device:{station_id}/{device_id}".encode()).hexdigest()[:32]


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def elapsed(since: float, now: float, scale: float = 1.0) -> float:
    """Seconds of (simulated, when ``scale`` > 1) time from ``since`` to ``now``."""
    return (now - since) * scale


def checkin_since(last_seen: float | None, heard: float | None, scale: float) -> float | None:
    """The moment a resident's silence is measured from (``None``: no reading yet).

    Args:
        last_seen: event time of the resident's latest reading.
        heard: the gateway's receipt time of the resident's latest reading.
        scale: the watchdog's time scale; 1 (real time) uses ``last_seen``, more ``heard``.
    """
    return last_seen if scale == 1.0 else heard


def resident_overdue(since: float | None, now: float, days: float, scale: float = 1.0) -> bool:
    """Whether a resident has sent nothing from any device for their check-in period.

    A device of such a resident is not reported offline: nothing is heard from any of the
    resident's devices, which is the no-check-in alert's case, not a device fault.
    """
    return since is not None and elapsed(since, now, scale) >= days * 86400.0


def _scaled(values: dict[str, Any], scale: float) -> dict[str, Any]:
    return values if scale == 1.0 else {**values, "time_scale": scale}


def no_checkin_alerts(
    *,
    subject_id: str,
    station_id: str,
    last_seen: float,
    now: float,
    days: float,
    raised_at: datetime,
    scale: float = 1.0,
) -> list[Alert]:
    """The no-check-in alerts due for one resident (none while they check in)."""
    gap_days = elapsed(last_seen, now, scale) / 86400.0
    alerts = []
    for rule_id, severity, factor, advice in (
        (
            "checkin.none",
            Severity.ENGAGEMENT,
            1.0,
            "Invite them back to measure (a phone call or a visit to the station).",
        ),
        (
            "checkin.none_long",
            Severity.FOLLOW_UP,
            2.0,
            "Check on the resident within two working days: phone, or visit if unreachable.",
        ),
    ):
        if gap_days >= days * factor:
            episode = format_time(_time(last_seen))
            alerts.append(
                Alert(
                    alert_id=alert_id_for(station_id, subject_id, rule_id, episode),
                    station_id=station_id,
                    subject_id=subject_id,
                    rule_id=rule_id,
                    severity=severity,
                    category=Category.CLINICAL,
                    status=Status.FIRING,
                    reason=(
                        f"No reading from this resident for {gap_days:.1f} days (their "
                        f"check-in period is {days:g} days). {advice}"
                    ),
                    source=WATCHDOG_SOURCE,
                    raised_at=raised_at,
                    evidence={
                        "window": {"start": episode, "end": format_time(_time(now))},
                        "values": _scaled(
                            {"last_seen": episode, "days": round(gap_days, 2)}, scale
                        ),
                        "readings": [],
                    },
                )
            )
    return alerts


def checkin_resolved(
    *,
    subject_id: str,
    station_id: str,
    previous: float,
    at: float,
    days: float,
    raised_at: datetime,
    scale: float = 1.0,
) -> list[Alert]:
    """Resolutions for the no-check-in alerts of the gap ending with a reading at ``at``.

    ``previous`` and ``at`` are on the clock :func:`checkin_since` picks for ``scale``.
    """
    gap_days = elapsed(previous, at, scale) / 86400.0
    episode = format_time(_time(previous))
    alerts = []
    for rule_id, factor in (("checkin.none", 1.0), ("checkin.none_long", 2.0)):
        if gap_days >= days * factor:
            alerts.append(
                Alert(
                    alert_id=alert_id_for(station_id, subject_id, rule_id, f"{episode}/resolved"),
                    station_id=station_id,
                    subject_id=subject_id,
                    rule_id=rule_id,
                    severity=Severity.ENGAGEMENT if factor == 1.0 else Severity.FOLLOW_UP,
                    category=Category.CLINICAL,
                    status=Status.RESOLVED,
                    reason=f"Resolved: the resident measured again after {gap_days:.1f} days.",
                    source=WATCHDOG_SOURCE,
                    raised_at=raised_at,
                    evidence={
                        "window": {"start": episode, "end": format_time(_time(at))},
                        "values": _scaled(
                            {"last_seen": episode, "days": round(gap_days, 2)}, scale
                        ),
                        "readings": [],
                    },
                )
            )
    return alerts


@dataclass(frozen=True, slots=True)
class DeviceBeat:
    """What a device heartbeat says (see ``edge.records.heartbeat_message``).

    Attributes:
        station_id: the station.
        device_id: the device (from the heartbeat's ``device/<id>`` subject).
        device_kind: the registry's kind.
        last_seen: when the gateway last heard the device, seconds (``None``: never).
        battery_percent: latest battery level, if the device reports one.
        sent_at: when the gateway sent the heartbeat, seconds.
    """

    station_id: str
    device_id: str
    device_kind: str | None
    last_seen: float | None
    battery_percent: int | None
    sent_at: float


def parse_heartbeat(raw: bytes) -> DeviceBeat | None:
    """A device heartbeat, or ``None`` for a gateway heartbeat or an unusable message."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    subject = body.get("subject")
    if not isinstance(subject, str) or not subject.startswith("device/"):
        return None
    try:
        sent_at = parse_time(body.get("sent_at"), "sent_at").timestamp()
        seen = body.get("last_seen")
        last_seen = None if seen is None else parse_time(seen, "last_seen").timestamp()
    except ValueError:
        return None
    battery = body.get("battery_percent")
    kind = body.get("device_kind")
    return DeviceBeat(
        station_id=str(body.get("station_id", "")),
        device_id=subject.removeprefix("device/"),
        device_kind=kind if isinstance(kind, str) else None,
        last_seen=last_seen,
        battery_percent=battery
        if isinstance(battery, int) and not isinstance(battery, bool)
        else None,
        sent_at=sent_at,
    )


def battery_level(percent: int | None, previous: str) -> str:
    """``ok``, ``low`` or ``critical`` for a battery reading, with hysteresis."""
    if percent is None:
        return previous
    if percent < BATTERY_CRITICAL:
        return "critical"
    if percent < BATTERY_LOW:
        if previous == "critical" and percent < BATTERY_CRITICAL + BATTERY_HYSTERESIS:
            return "critical"
        return "low"
    if previous in ("low", "critical") and percent < BATTERY_LOW + BATTERY_HYSTERESIS:
        return "low"
    return "ok"


def _device_alert(
    beat: DeviceBeat,
    rule_id: str,
    severity: Severity,
    status: Status,
    reason: str,
    source: str,
    episode: str,
    raised_at: datetime,
    values: Mapping[str, Any],
    owner: str | None = None,
) -> Alert:
    label = f"{beat.device_id}/{episode}"
    if status is not Status.FIRING:
        label += "/resolved"
    subject = owner or device_subject(beat.station_id, beat.device_id)
    return Alert(
        alert_id=alert_id_for(beat.station_id, subject, rule_id, label),
        station_id=beat.station_id,
        subject_id=subject,
        rule_id=rule_id,
        severity=severity,
        category=Category.TECHNICAL,
        status=status,
        reason=reason,
        source=source,
        raised_at=raised_at,
        evidence={
            "device_id": beat.device_id,
            "device_kind": beat.device_kind,
            "values": dict(values),
            "window": {"start": episode, "end": format_time(_time(beat.sent_at))},
            "readings": [],
        },
    )


def battery_alerts(
    beat: DeviceBeat, previous: str, current: str, raised_at: datetime, owner: str | None = None
) -> list[Alert]:
    """Alerts for a change of battery level between two heartbeats (``owner``: resident)."""
    if previous == current:
        return []
    episode = format_time(_time(beat.sent_at))
    values = {"battery_percent": beat.battery_percent}
    name = f"{beat.device_kind or 'device'} {beat.device_id}"
    rules = {
        "low": ("device.battery_low", Severity.ENGAGEMENT, "below 20 %: replace or charge it"),
        "critical": (
            "device.battery_critical",
            Severity.FOLLOW_UP,
            "below 5 %: it will stop measuring soon; replace or charge it today",
        ),
    }
    alerts = []
    if previous in rules:
        rule_id, severity, _ = rules[previous]
        alerts.append(
            _device_alert(
                beat,
                rule_id,
                severity,
                Status.RESOLVED,
                f"Resolved: the battery of {name} is at {beat.battery_percent} %.",
                BATTERY_SOURCE,
                episode,
                raised_at,
                values,
                owner,
            )
        )
    if current in rules:
        rule_id, severity, advice = rules[current]
        alerts.append(
            _device_alert(
                beat,
                rule_id,
                severity,
                Status.FIRING,
                f"The battery of {name} is at {beat.battery_percent} %, {advice}.",
                BATTERY_SOURCE,
                episode,
                raised_at,
                values,
                owner,
            )
        )
    return alerts


def offline_since(beat: DeviceBeat) -> float:
    """The time the device was last known to be working."""
    return beat.last_seen if beat.last_seen is not None else beat.sent_at


def device_offline_alert(
    beat: DeviceBeat,
    now: float,
    hours: float,
    raised_at: datetime,
    *,
    resolved: bool = False,
    owner: str | None = None,
    scale: float = 1.0,
) -> Alert | None:
    """``device.offline`` for a device silent for ``hours`` (or its resolution).

    ``owner`` is the resident's pseudonym (the alert's subject) when known.
    """
    since = max(offline_since(beat), 0.0)
    silent_h = elapsed(since, now, scale) / 3600.0
    if not resolved and silent_h < hours:
        return None
    episode = format_time(_time(since))
    name = f"{beat.device_kind or 'device'} {beat.device_id}"
    reason = (
        f"Resolved: {name} is sending again."
        if resolved
        else f"{name} has not been heard for {silent_h:.1f} hours. Check that it is switched "
        "on, charged and near the station gateway, and that the gateway is running."
    )
    return _device_alert(
        beat,
        "device.offline",
        Severity.FOLLOW_UP,
        Status.RESOLVED if resolved else Status.FIRING,
        reason,
        DEVICE_SOURCE,
        episode,
        raised_at,
        _scaled({"silent_hours": round(silent_h, 2), "hours": hours}, scale),
        owner,
    )
