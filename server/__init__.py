"""SpanTally's server: the HTTP API, the `spantally up` runtime and the CLI."""

from .api import ApiServices, create_app
from .config import ApiConfig, Settings
from .runtime import Runtime, StartupInfo, serve

__all__ = ["ApiConfig", "ApiServices", "Runtime", "Settings", "StartupInfo", "create_app", "serve"]
