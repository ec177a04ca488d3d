"""The HTTP API: analytics, calls, prices, health and metrics, the OpenAPI document and the
dashboard, in one aiohttp application (`create_app`)."""

from .app import create_app, error_response
from .services import ApiServices

__all__ = ["ApiServices", "create_app", "error_response"]
