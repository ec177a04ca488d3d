"""SpanTally's store: TimescaleDB (or PostgreSQL) schema, writer, and analytics queries."""

from .analytics import (
    Granularity,
    LlmAnalytics,
    LlmFilters,
    RecentCall,
    Totals,
    llm_analytics,
    plan_range,
    recent_calls,
)
from .cluster import ClusterConfig, ClusterError, ManagedCluster, default_home, temporary_cluster
from .database import Database, StorageMode, StoreConfig
from .errors import StoreError, StoreUnavailable
from .keys import (
    ApiKeyInfo,
    ProjectInfo,
    create_api_key,
    ensure_project,
    list_api_keys,
    list_projects,
    parse_api_key,
    resolve_api_key,
    revoke_api_key,
)
from .migrate import migrate
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
from .records import LlmCall
from .retention import RetentionConfig, apply_retention, configure_retention
from .writer import CallWriter, WriteResult

__all__ = [
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
    "LlmAnalytics",
    "LlmCall",
    "LlmFilters",
    "ManagedCluster",
    "StorageMode",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "Totals",
    "WriteResult",
    "create_api_key",
    "default_home",
    "ensure_project",
    "llm_analytics",
    "migrate",
    "parse_api_key",
    "RetentionConfig",
    "apply_retention",
    "configure_retention",
    "plan_range",
    "resolve_api_key",
    "temporary_cluster",
]
