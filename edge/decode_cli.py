"""``carepulse decode``: decode GATT / vendor payloads from the command line.

Single mode, ``carepulse decode CHAR HEX``, prints one compact JSON object. A rejected
payload prints nothing on stdout, one line on stderr naming the field at fault, and
exits with status 2.

Batch mode, ``carepulse decode -``, reads ``CHAR HEX`` lines from stdin and prints one
JSON object per line; a rejected line gives ``{"error": "...", "field": "..."}``. Blank
lines and lines starting with ``#`` are skipped. The exit status is 0.

``CHAR`` is a 16-bit UUID (``2A37``, ``0x2a37``) or a snake_case name
(``heart_rate_measurement``, ``mi_scale``); ``HEX`` may contain spaces or colons.
"""

from __future__ import annotations

import json
import sys
from typing import Final, TextIO

import click

from edge.decoders import CHARACTERISTICS
from edge.decoders import decode as decode_payload
from edge.errors import DecodeError

#: Exit status of a rejected payload in single mode.
REJECTED: Final = 2
_SEPARATORS: Final = (",", ":")


def parse_hex(text: str, characteristic: str) -> bytes:
    """The bytes of ``text`` (spaces, ``:`` and a ``0x`` prefix allowed)."""
    cleaned = text.strip().replace(":", "").replace(" ", "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        reason = f"{text!r} is not hexadecimal bytes (e.g. 1e5532002100)"
        raise DecodeError(characteristic, "payload", b"", reason) from None


def decode_to_json(characteristic: str, hex_text: str) -> str:
    """Decode one payload to its compact JSON line; a bad payload raises ``DecodeError``."""
    measurement = decode_payload(characteristic, parse_hex(hex_text, characteristic))
    return json.dumps(measurement.as_dict(), separators=_SEPARATORS, allow_nan=False)


def decode_lines(lines: TextIO, out: TextIO) -> None:
    """Batch mode: one JSON object per ``CHAR HEX`` input line."""
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        characteristic, _, hex_text = text.partition(" ")
        try:
            if not hex_text.strip():
                reason = "expected 'CHAR HEX' on the line, got no HEX"
                raise DecodeError(characteristic, "payload", b"", reason)
            result = decode_to_json(characteristic, hex_text)
        except DecodeError as exc:
            result = json.dumps({"error": str(exc), "field": exc.field}, separators=_SEPARATORS)
        out.write(result + "\n")


@click.command(
    epilog="Supported: " + ", ".join(sorted(CHARACTERISTICS)) + " (or their 16-bit UUIDs)."
)
@click.argument("characteristic", metavar="CHAR")
@click.argument("hex_payload", metavar="HEX", required=False)
@click.pass_context
def decode(ctx: click.Context, characteristic: str, hex_payload: str | None) -> None:
    """Decode one payload (CHAR HEX), or CHAR HEX lines from stdin (-)."""
    if characteristic == "-" and hex_payload is None:
        decode_lines(click.get_text_stream("stdin"), click.get_text_stream("stdout"))
        return
    if hex_payload is None:
        msg = "HEX is required unless CHAR is '-' (read 'CHAR HEX' lines from stdin)"
        raise click.UsageError(msg, ctx)
    try:
        line = decode_to_json(characteristic, hex_payload)
    except DecodeError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(REJECTED)
    click.echo(line)


def main() -> None:
    """Run ``decode`` on its own (``python -m edge.decode_cli``)."""
    decode(sys.argv[1:])


if __name__ == "__main__":
    main()
