"""SpanTally's collector: OTLP receivers and the pipeline that turns spans into stored calls."""

from .auth import Authenticator
from .ingest import Caller, ExportOutcome, IngestLimits, TraceIngest
from .limits import Limiter, RateLimits, TokenBucket
from .normalize import Normalized, NormalizeLimits, normalize_request
from .pipeline import Pipeline, PipelineConfig
from .pricing import Pricer
from .service import Collector, CollectorConfig
from .stats import CollectorStats

__all__ = [
    "Authenticator",
    "Caller",
    "Collector",
    "CollectorConfig",
    "CollectorStats",
    "ExportOutcome",
    "IngestLimits",
    "Limiter",
    "NormalizeLimits",
    "Normalized",
    "Pipeline",
    "PipelineConfig",
    "Pricer",
    "RateLimits",
    "TokenBucket",
    "TraceIngest",
    "normalize_request",
]
