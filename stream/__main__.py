"""``python -m stream worker``: Faust's own command line over the carepulse app.

Every Faust subcommand works (``worker``, ``agents``, ``tables``, ``send``...); the app is
built from the environment (:class:`stream.config.StreamSettings`) before Faust parses
the command line. ``carepulse worker`` is the same worker behind carepulse's CLI.
"""

from __future__ import annotations

from stream.app import create_app, tune_gc
from stream.config import StreamSettings


def main() -> None:
    """Build the app from the environment and hand the command line to Faust."""
    settings = StreamSettings.load()
    tune_gc(settings)
    create_app(settings).app.main()


if __name__ == "__main__":
    main()
