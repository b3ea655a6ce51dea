"""``python -m alerts`` runs the ``carepulse alerts`` commands."""

from alerts.cli import main

main()
