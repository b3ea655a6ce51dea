"""The alert service's web app: JSON API, pages, sessions, CSRF, live updates."""

from alerts.web.app import TrendSource, WebConfig, create_app

__all__ = ["TrendSource", "WebConfig", "create_app"]
