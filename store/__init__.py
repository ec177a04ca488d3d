"""SpanTally's store: TimescaleDB (or PostgreSQL) schema, writer, and analytics queries."""

from .anomalies import ANOMALY_KINDS, Anomaly, AnomalyRules, detect_anomalies
from .breakdowns import BREAKDOWN_SORTS, Breakdown, breakdown
from .buckets import Granularity, Segment, bucket_label, local_bucket, segments
from .calls import RecentCall, recent_calls
from .catalog import AGGREGATES, Aggregate, Grain
from .catalog_check import catalog_differences
from .cluster import ClusterConfig, ClusterError, ManagedCluster, default_home, temporary_cluster
from .database import Database, StorageMode, StoreConfig
from .errors import StoreError, StoreUnavailable
from .executor import Explain, Grouped, ReadReport, answer, execute
from .keys import (
    ApiKeyInfo,
    ProjectInfo,
    create_api_key,
    ensure_project,
    find_project,
    list_api_keys,
    list_projects,
    parse_api_key,
    resolve_api_key,
    revoke_api_key,
)
from .maintenance import (
    ColumnstoreConfig,
    MaintenanceHealth,
    MaintenanceRunner,
    configure_columnstore,
    maintenance_health,
)
from .measures import BIN_RATIO, Measures, bin_of, percentile_ms
from .migrate import migrate
from .planner import Piece, Plan, Read, plan
from .prices import (
    CurrencyRate,
    ModelPrice,
    NewPrice,
    PriceOverlap,
    create_price,
    delete_price,
    delete_rate,
    find_rate,
    list_prices,
    list_rates,
    set_rate,
)
from .question import DIMENSIONS, Dimension, Filters, Question, dimension_of
from .records import LlmCall
from .reprice import CallPricer, PricesFor, RepriceTotals, reprice
from .retention import RetentionConfig, apply_retention, configure_retention
from .sessions import SESSION_ORDERS, Session, SessionsSummary, list_sessions, sessions_summary
from .writer import CallWriter, WriteResult

__all__ = [
    "AGGREGATES",
    "ANOMALY_KINDS",
    "Aggregate",
    "Anomaly",
    "AnomalyRules",
    "ApiKeyInfo",
    "BIN_RATIO",
    "BREAKDOWN_SORTS",
    "Breakdown",
    "CallPricer",
    "CallWriter",
    "ClusterConfig",
    "ClusterError",
    "ColumnstoreConfig",
    "CurrencyRate",
    "DIMENSIONS",
    "Database",
    "Dimension",
    "Explain",
    "Filters",
    "Grain",
    "Granularity",
    "Grouped",
    "LlmCall",
    "MaintenanceHealth",
    "MaintenanceRunner",
    "ManagedCluster",
    "Measures",
    "ModelPrice",
    "NewPrice",
    "Piece",
    "Plan",
    "PriceOverlap",
    "PricesFor",
    "ProjectInfo",
    "Question",
    "Read",
    "ReadReport",
    "RecentCall",
    "RepriceTotals",
    "RetentionConfig",
    "SESSION_ORDERS",
    "Segment",
    "Session",
    "SessionsSummary",
    "StorageMode",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "WriteResult",
    "answer",
    "apply_retention",
    "bin_of",
    "breakdown",
    "bucket_label",
    "catalog_differences",
    "configure_columnstore",
    "configure_retention",
    "create_api_key",
    "create_price",
    "default_home",
    "delete_price",
    "delete_rate",
    "detect_anomalies",
    "dimension_of",
    "ensure_project",
    "execute",
    "find_project",
    "find_rate",
    "list_api_keys",
    "list_prices",
    "list_projects",
    "list_rates",
    "list_sessions",
    "local_bucket",
    "maintenance_health",
    "migrate",
    "parse_api_key",
    "percentile_ms",
    "plan",
    "recent_calls",
    "reprice",
    "resolve_api_key",
    "revoke_api_key",
    "segments",
    "sessions_summary",
    "set_rate",
    "temporary_cluster",
]
