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
    "Aggregate",
    "CallPricer",
    "Explain",
    "Grain",
    "Piece",
    "Plan",
    "PricesFor",
    "Question",
    "Read",
    "ReadReport",
    "RepriceTotals",
    "answer",
    "catalog_differences",
    "execute",
    "plan",
    "reprice",
    "ANOMALY_KINDS",
    "Anomaly",
    "AnomalyRules",
    "BIN_RATIO",
    "BREAKDOWN_SORTS",
    "Breakdown",
    "breakdown",
    "DIMENSIONS",
    "Dimension",
    "Filters",
    "Grouped",
    "Measures",
    "SESSION_ORDERS",
    "Segment",
    "Session",
    "SessionsSummary",
    "bin_of",
    "bucket_label",
    "detect_anomalies",
    "dimension_of",
    "list_sessions",
    "local_bucket",
    "percentile_ms",
    "segments",
    "sessions_summary",
    "ApiKeyInfo",
    "ProjectInfo",
    "RecentCall",
    "list_api_keys",
    "list_projects",
    "recent_calls",
    "revoke_api_key",
    "CallWriter",
    "CurrencyRate",
    "ModelPrice",
    "NewPrice",
    "PriceOverlap",
    "create_price",
    "delete_price",
    "delete_rate",
    "find_rate",
    "list_prices",
    "list_rates",
    "set_rate",
    "ClusterConfig",
    "ClusterError",
    "Database",
    "Granularity",
    "LlmCall",
    "ManagedCluster",
    "StorageMode",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "WriteResult",
    "create_api_key",
    "default_home",
    "ensure_project",
    "find_project",
    "migrate",
    "parse_api_key",
    "RetentionConfig",
    "apply_retention",
    "configure_retention",
    "resolve_api_key",
    "temporary_cluster",
]
