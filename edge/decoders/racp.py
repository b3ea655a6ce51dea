"""Record Access Control Point 0x2A52 (Glucose, CGM and Pulse Oximeter services).

Both directions use ``op code u8 | operator u8 | operand ...``:

* requests (collector -> device, write): Report Stored Records (1), Delete Stored Records
  (2), Abort Operation (3), Report Number of Stored Records (4). Operators: Null (0),
  All records (1), Less than or equal to (2), Greater than or equal to (3), Within range
  of (4, inclusive), First record (5), Last record (6). Operators 2-4 carry a filter
  type byte (1 = sequence number u16, 2 = user facing time, a Date Time) and one or two
  values: ``01 03 01 0a 00`` = records with sequence number >= 10.
* responses (device -> collector, indicate): Number of Stored Records Response (5) with
  a u16 count, and Response Code (6) with the request op code and a response code.

An op code, operator or filter type this module does not know keeps its operand as raw
bytes (``operand``), so a RACP server can still answer "not supported". A known request
whose operand has the wrong size raises ``DecodeError``; its ``field`` maps onto the
response code to send (``operator`` -> Invalid Operator, ``operand``/``filter_type`` ->
Invalid Operand).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final, Self, final

from edge.decoders.base import (
    JsonDict,
    OpenIntEnum,
    check_range,
    code_labels,
    fast_constructor,
    invalid,
    label_of,
    truncated,
)
from edge.decoders.date_time import DateTime
from edge.errors import EncodeError

_U16: Final = struct.Struct("<H")


class RACPOpCode(OpenIntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RACPOperator(OpenIntEnum):
    """RACP operators."""

    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL_TO = 2
    GREATER_THAN_OR_EQUAL_TO = 3
    WITHIN_RANGE_OF = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class RACPFilterType(OpenIntEnum):
    """What the operand of operators 2-4 filters on."""

    SEQUENCE_NUMBER = 1
    USER_FACING_TIME = 2


class RACPResponseCode(OpenIntEnum):
    """Response codes (op code 6)."""

    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


_OP_LABELS: Final = code_labels(RACPOpCode)
_OPERATOR_LABELS: Final = code_labels(RACPOperator)
_FILTER_LABELS: Final = code_labels(RACPFilterType)
_RESPONSE_LABELS: Final = code_labels(RACPResponseCode)

_RECORD_REQUESTS: Final = frozenset({1, 2, 4})
_NO_OPERAND: Final = frozenset({0, 1, 5, 6})
_ONE_VALUE: Final = frozenset({2, 3})

FilterValue = int | DateTime


@final
@dataclass(frozen=True, slots=True)
class RecordAccessControlPoint:
    """One RACP request or response.

    For operator ``<=`` only ``maximum`` is set, for ``>=`` only ``minimum``, for
    "within range of" both. ``number_of_records`` is set in op code 5,
    ``request_op_code`` and ``response_code`` in op code 6.
    """

    NAME: ClassVar[str] = "record_access_control_point"
    UUID: ClassVar[int] = 0x2A52

    op_code: int
    operator: int = RACPOperator.NULL
    filter_type: int | None = None
    minimum: FilterValue | None = None
    maximum: FilterValue | None = None
    number_of_records: int | None = None
    request_op_code: int | None = None
    response_code: int | None = None
    #: Operand bytes of an op code, operator or filter type not decoded here.
    operand: bytes = b""

    # -- constructors for the common messages --------------------------------------
    @classmethod
    def report_stored_records(
        cls,
        operator: int = RACPOperator.ALL_RECORDS,
        *,
        minimum: FilterValue | None = None,
        maximum: FilterValue | None = None,
    ) -> Self:
        """A Report Stored Records request (filter type follows from the values)."""
        return cls._request(RACPOpCode.REPORT_STORED_RECORDS, operator, minimum, maximum)

    @classmethod
    def report_number_of_stored_records(
        cls,
        operator: int = RACPOperator.ALL_RECORDS,
        *,
        minimum: FilterValue | None = None,
        maximum: FilterValue | None = None,
    ) -> Self:
        """A Report Number of Stored Records request."""
        return cls._request(RACPOpCode.REPORT_NUMBER_OF_STORED_RECORDS, operator, minimum, maximum)

    @classmethod
    def number_of_stored_records_response(cls, count: int) -> Self:
        """The answer to Report Number of Stored Records."""
        return cls(RACPOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, number_of_records=count)

    @classmethod
    def response(cls, request_op_code: int, response_code: int) -> Self:
        """A Response Code message (op code 6)."""
        return cls(
            RACPOpCode.RESPONSE_CODE,
            request_op_code=request_op_code,
            response_code=response_code,
        )

    @classmethod
    def _request(
        cls, op_code: int, operator: int, minimum: FilterValue | None, maximum: FilterValue | None
    ) -> Self:
        value = minimum if minimum is not None else maximum
        filter_type = None
        if value is not None:
            filter_type = (
                RACPFilterType.USER_FACING_TIME
                if isinstance(value, DateTime)
                else RACPFilterType.SEQUENCE_NUMBER
            )
        return cls(op_code, operator, filter_type, minimum, maximum)

    # -- wire format --------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Decode a request or a response; a bad payload raises ``DecodeError``."""
        name = cls.NAME
        size = len(data)
        if size < 2:
            truncated(name, "op_code" if size == 0 else "operator", data, 2)
        op_code = data[0]
        operator = data[1]
        rest = data[2:]
        if op_code == RACPOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
            if len(rest) != 2:
                invalid(
                    name, "number_of_records", data, f"expected a u16 count, got {len(rest)} bytes"
                )
            count = rest[0] | rest[1] << 8
            return _new_RACP(op_code, operator, None, None, None, count, None, None, b"")
        if op_code == RACPOpCode.RESPONSE_CODE:
            if len(rest) < 2:
                truncated(name, "request_op_code" if not rest else "response_code", data, 4)
            if len(rest) > 2:
                invalid(
                    name, "operand", data, f"a response code has 2 operand bytes, got {len(rest)}"
                )
            return _new_RACP(op_code, operator, None, None, None, None, rest[0], rest[1], b"")
        if op_code == RACPOpCode.ABORT_OPERATION:
            if rest:
                invalid(name, "operand", data, "Abort Operation takes no operand")
            return cls(op_code, operator)
        if op_code not in _RECORD_REQUESTS or operator > 6:
            return cls(op_code, operator, operand=bytes(rest))
        if operator in _NO_OPERAND:
            if rest:
                invalid(name, "operand", data, f"operator {operator} takes no operand")
            return cls(op_code, operator)
        if not rest:
            truncated(name, "filter_type", data, 3, f" (operator {operator} needs a filter)")
        filter_type = rest[0]
        if filter_type == RACPFilterType.SEQUENCE_NUMBER:
            width = 2
        elif filter_type == RACPFilterType.USER_FACING_TIME:
            width = 7
        else:
            return cls(op_code, operator, filter_type, operand=bytes(rest[1:]))
        count = 1 if operator in _ONE_VALUE else 2
        if len(rest) != 1 + width * count:
            reason = (
                f"filter type {filter_type} with operator {operator} needs "
                f"{width * count} operand bytes, got {len(rest) - 1}"
            )
            invalid(name, "operand", data, reason)
        values = [_filter_value(rest, 1 + width * i, width) for i in range(count)]
        if operator == RACPOperator.LESS_THAN_OR_EQUAL_TO:
            return cls(op_code, operator, filter_type, maximum=values[0])
        if operator == RACPOperator.GREATER_THAN_OR_EQUAL_TO:
            return cls(op_code, operator, filter_type, minimum=values[0])
        return cls(op_code, operator, filter_type, minimum=values[0], maximum=values[1])

    def __bytes__(self) -> bytes:
        name = self.NAME
        head = bytes(
            (
                check_range(name, "op_code", self.op_code, 0, 0xFF),
                check_range(name, "operator", self.operator, 0, 0xFF),
            )
        )
        if self.number_of_records is not None:
            return head + _U16.pack(
                check_range(name, "number_of_records", self.number_of_records, 0, 0xFFFF)
            )
        if self.response_code is not None or self.request_op_code is not None:
            return head + bytes(
                (
                    check_range(name, "request_op_code", self.request_op_code or 0, 0, 0xFF),
                    check_range(name, "response_code", self.response_code or 0, 0, 0xFF),
                )
            )
        if self.filter_type is None:
            return head + self.operand
        out = bytearray(head)
        out.append(check_range(name, "filter_type", self.filter_type, 0, 0xFF))
        if self.minimum is None and self.maximum is None:
            return bytes(out) + self.operand
        for value in (self.minimum, self.maximum):
            if value is None:
                continue
            if isinstance(value, DateTime):
                out += bytes(value)
            elif self.filter_type == RACPFilterType.SEQUENCE_NUMBER:
                out += _U16.pack(check_range(name, "minimum", value, 0, 0xFFFF))
            else:
                reason = f"filter type {self.filter_type} has no integer encoding"
                raise EncodeError(name, "filter_type", reason)
        return bytes(out)

    def as_dict(self) -> JsonDict:
        """Op code, operator, filter and response fields as labels; timestamps as ISO."""
        return {
            "op_code": label_of(_OP_LABELS, self.op_code),
            "operator": label_of(_OPERATOR_LABELS, self.operator),
            "filter_type": label_of(_FILTER_LABELS, self.filter_type),
            "minimum": _json_value(self.minimum),
            "maximum": _json_value(self.maximum),
            "number_of_records": self.number_of_records,
            "request_op_code": label_of(_OP_LABELS, self.request_op_code),
            "response_code": label_of(_RESPONSE_LABELS, self.response_code),
            "operand": self.operand.hex() if self.operand else None,
        }


_new_RACP = fast_constructor(RecordAccessControlPoint)


def _filter_value(rest: bytes, offset: int, width: int) -> FilterValue:
    if width == 2:
        return rest[offset] | rest[offset + 1] << 8
    return DateTime.unpack_from(rest, offset)


def _json_value(value: FilterValue | None) -> int | str | None:
    if isinstance(value, DateTime):
        return value.isoformat()
    return value
