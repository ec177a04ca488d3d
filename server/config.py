"""Settings of a `spantally up` process. Every setting has an environment variable (read by the
CLI, which also offers each as a flag)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spantally.collector import CollectorConfig, RateLimits
from spantally.common.tls import TlsConfig
from spantally.store import AnomalyRules, ColumnstoreConfig, RetentionConfig

__all__ = ["ApiConfig", "Settings"]


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 3400
    max_range_days: int = 400
    """Longest `from`..`to` range a query may span."""
    max_raw_range_days: float = 7.0
    """Longest span of raw calls (rather than aggregates) one analytics query may read, unless
    it filters on one user or session (an index finds those over any range)."""
    anomaly_min_calls: int = AnomalyRules().min_calls
    """Calls an hour needs before its anomalies are judged, on request and by the detector."""
    admin_token: str | None = field(default=None, repr=False)
    """The server's own secret for /api/admin/projects (creating and listing projects); None
    turns those off. Project keys never reach them."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    """An existing database; None runs the embedded cluster in `home`."""
    read_database_url: str | None = None
    """A read replica the API answers analytics from; None reads from the primary."""
    home: Path | None = None
    """Data directory of the embedded cluster and its secrets (default: see store.default_home)."""
    embedded_port: int = 54329
    db_user: str = "postgres"
    """System user that runs the embedded PostgreSQL when SpanTally runs as root."""
    storage_mode: str = "auto"
    default_project: str = "default"
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    retention_interval_s: float = 3600.0
    """How often the modes without TimescaleDB policies delete expired rows."""
    columnstore: ColumnstoreConfig = field(default_factory=ColumnstoreConfig)
    anomaly_check_interval_s: float | None = 300.0
    """How often a process looks for complete hours whose anomalies no process judged yet
    (store.anomaly_log; one process at a time judges); None turns the detector off."""
    maintenance_interval_s: float = 15.0
    """Mode `timescale`: how often a process checks that TimescaleDB's scheduler ran every
    policy, running those it did not (store.maintenance)."""
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    tls: TlsConfig | None = None
    """TLS on all three listeners (OTLP gRPC and HTTP, API); None serves them in the clear."""
    limits: RateLimits = field(default_factory=RateLimits)
    """The default rate limits (a project's own replace them: store.project_limits)."""
