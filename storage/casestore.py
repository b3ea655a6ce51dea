"""Time to acknowledge from the alert service's case store, for the station report (I/O).

Acknowledgements live in the alert service's case store (SQLAlchemy: SQLite by default,
or PostgreSQL), not in InfluxDB. The report reads them through the service's own
read-only query, :meth:`alerts.store.CaseStore.acknowledgement_figures`, which returns
counts and minutes per rule and severity and nothing that names a resident or a user;
this module converts them to :class:`storage.analysis.AckRow` at the boundary.

The database is the one the alert service uses: ``CAREPULSE_DATABASE_URL`` (the alert
service's setting, default the SQLite file in the stack's state folder), or the URL given
with ``carepulse report station --alert-db``. A SQLite file that does not exist is not
created: that is an error saying where it looked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from storage.analysis import AckRow
from storage.errors import CaseStoreError


def default_database_url() -> str:
    """The alert service's configured case store (``CAREPULSE_DATABASE_URL``)."""
    from alerts.config import AlertsSettings

    return AlertsSettings.load().database_url


def shown(url: str) -> str:
    """``url`` without credentials, for messages and the report."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if rest else url


def acknowledgements(
    database_url: str, station: str, since: datetime, until: datetime
) -> list[AckRow]:
    """Clinical alerts raised at ``station`` in ``[since, until)``: time to acknowledge.

    Raises :class:`CaseStoreError` when the store is missing, unreachable or has no cases
    table, with what to do.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from alerts.store import CaseStore

    where = shown(database_url)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or not Path(path).exists():
            msg = (
                f"no alert case store at {where}: start the alert service once "
                "(`carepulse alerts serve`), or point at its database with --alert-db or "
                "CAREPULSE_DATABASE_URL"
            )
            raise CaseStoreError(msg, where=where)
    engine = CaseStore.engine_for(database_url)
    try:
        figures = CaseStore(engine).acknowledgement_figures(station, since, until)
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        msg = (
            f"cannot read the alert case store at {where} ({type(exc).__name__}: {reason}); "
            "check --alert-db / CAREPULSE_DATABASE_URL and that the alert service has created "
            "its tables"
        )
        raise CaseStoreError(msg, where=where) from exc
    finally:
        engine.dispose()
    return [
        AckRow(
            rule=f.rule_id,
            severity=f.severity,
            raised=f.raised,
            acknowledged=f.acknowledged,
            median_minutes=f.median_minutes,
            p90_minutes=f.p90_minutes,
            within_target=f.within_target,
            due=f.due,
        )
        for f in figures
    ]
