"""The Record Access Control Point server's decisions, as a pure function.

:func:`answer` takes the bytes a collector wrote and the stored records, and returns a
:class:`RacpPlan`: which records to report or delete and the response to indicate. The
glucose meter carries the plan out. Requests are decoded and responses encoded with
``edge.decoders.RecordAccessControlPoint``, the class the gateway uses.

Response codes (GLS 1.0 3.6.2, Table 3.x):

* unknown op code, or a response op code written by the collector: Op Code Not Supported;
* operator Null on a record request, or a non-Null operator on Abort: Invalid Operator;
* an operator the server does not know (7 and up): Operator Not Supported;
* an operand of the wrong size, or a range whose minimum exceeds its maximum: Invalid
  Operand; a filter type the server does not know: Operand Not Supported;
* nothing matches a report or delete: No Records Found (a count request answers 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

from edge.decoders import DateTime, DecodeError, RecordAccessControlPoint
from edge.decoders.racp import RACPFilterType, RACPOpCode, RACPOperator, RACPResponseCode

_R = TypeVar("_R")

_RECORD_REQUESTS: Final = frozenset(
    {
        RACPOpCode.REPORT_STORED_RECORDS,
        RACPOpCode.DELETE_STORED_RECORDS,
        RACPOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
_KNOWN_OPERATORS: Final = frozenset(int(operator) for operator in RACPOperator)


@dataclass(frozen=True, slots=True)
class RecordKeys(Generic[_R]):
    """How to read a stored record's sequence number and user facing time."""

    sequence_number: Callable[[_R], int]
    facing_time: Callable[[_R], datetime | None]


@dataclass(frozen=True, slots=True)
class RacpPlan:
    """What the server does for one request: report, delete, abort, then respond."""

    response: RecordAccessControlPoint
    report: tuple[int, ...] = ()
    delete: tuple[int, ...] = ()
    abort: bool = False


def respond(op_code: int, code: int) -> RacpPlan:
    """A plan that only answers ``code`` to ``op_code``."""
    return RacpPlan(RecordAccessControlPoint.response(op_code, code))


def answer(request: bytes, records: Sequence[_R], keys: RecordKeys[_R]) -> RacpPlan:
    """Decide the answer to one RACP write; ``records`` are in storage order (oldest first)."""
    op_code = request[0] if request else 0
    try:
        message = RecordAccessControlPoint.from_bytes(request)
    except DecodeError as error:
        if error.field in ("op_code", "operator"):
            if not request:
                return respond(op_code, RACPResponseCode.OP_CODE_NOT_SUPPORTED)
            return respond(op_code, RACPResponseCode.INVALID_OPERATOR)
        return respond(op_code, RACPResponseCode.INVALID_OPERAND)
    operator = message.operator
    if op_code == RACPOpCode.ABORT_OPERATION:
        if operator != RACPOperator.NULL:
            return respond(op_code, RACPResponseCode.INVALID_OPERATOR)
        return RacpPlan(
            RecordAccessControlPoint.response(op_code, RACPResponseCode.SUCCESS), abort=True
        )
    if op_code not in _RECORD_REQUESTS:
        return respond(op_code, RACPResponseCode.OP_CODE_NOT_SUPPORTED)
    if operator == RACPOperator.NULL:
        return respond(op_code, RACPResponseCode.INVALID_OPERATOR)
    if operator not in _KNOWN_OPERATORS:
        return respond(op_code, RACPResponseCode.OPERATOR_NOT_SUPPORTED)
    selected = _select(message, records, keys)
    if isinstance(selected, RacpPlan):
        return selected
    if op_code == RACPOpCode.REPORT_NUMBER_OF_STORED_RECORDS:
        return RacpPlan(RecordAccessControlPoint.number_of_stored_records_response(len(selected)))
    if not selected:
        return respond(op_code, RACPResponseCode.NO_RECORDS_FOUND)
    done = RecordAccessControlPoint.response(op_code, RACPResponseCode.SUCCESS)
    if op_code == RACPOpCode.DELETE_STORED_RECORDS:
        return RacpPlan(done, delete=selected)
    return RacpPlan(done, report=selected)


def _select(
    message: RecordAccessControlPoint, records: Sequence[_R], keys: RecordKeys[_R]
) -> tuple[int, ...] | RacpPlan:
    operator = message.operator
    indices = tuple(range(len(records)))
    if operator == RACPOperator.ALL_RECORDS:
        return indices
    if operator == RACPOperator.FIRST_RECORD:
        return indices[:1]
    if operator == RACPOperator.LAST_RECORD:
        return indices[-1:]
    filter_type = message.filter_type
    if filter_type == RACPFilterType.SEQUENCE_NUMBER:
        low, high = message.minimum, message.maximum
        if isinstance(low, DateTime) or isinstance(high, DateTime):
            return respond(message.op_code, RACPResponseCode.INVALID_OPERAND)
        if low is not None and high is not None and low > high:
            return respond(message.op_code, RACPResponseCode.INVALID_OPERAND)
        return tuple(
            i
            for i in indices
            if (low is None or keys.sequence_number(records[i]) >= low)
            and (high is None or keys.sequence_number(records[i]) <= high)
        )
    if filter_type == RACPFilterType.USER_FACING_TIME:
        start_ok, start = _moment(message.minimum)
        end_ok, end = _moment(message.maximum)
        if not (start_ok and end_ok):
            return respond(message.op_code, RACPResponseCode.INVALID_OPERAND)
        if start is not None and end is not None and start > end:
            return respond(message.op_code, RACPResponseCode.INVALID_OPERAND)
        chosen = []
        for i in indices:
            moment = keys.facing_time(records[i])
            if moment is None:
                continue
            if (start is None or moment >= start) and (end is None or moment <= end):
                chosen.append(i)
        return tuple(chosen)
    return respond(message.op_code, RACPResponseCode.OPERAND_NOT_SUPPORTED)


def _moment(value: int | DateTime | None) -> tuple[bool, datetime | None]:
    """``(usable, bound)`` of a time filter bound; an absent bound is usable and ``None``."""
    if value is None:
        return True, None
    if not isinstance(value, DateTime):
        return False, None
    moment = value.to_datetime()
    return moment is not None, moment
