"""``python -m carepulse`` is the ``carepulse`` command."""

from carepulse.cli import main

main()
