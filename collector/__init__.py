"""SpanTally's collector: OTLP receivers and the pipeline that turns spans into stored calls."""

from .auth import Authenticator
from .ingest import ExportOutcome, IngestLimits, TraceIngest
from .normalize import Normalized, NormalizeLimits, normalize_request
from .pipeline import Pipeline, PipelineConfig
from .pricing import Pricer
from .service import Collector, CollectorConfig
from .stats import CollectorStats

__all__ = [
    "Authenticator",
    "Collector",
    "CollectorConfig",
    "CollectorStats",
    "ExportOutcome",
    "IngestLimits",
    "NormalizeLimits",
    "Normalized",
    "Pipeline",
    "PipelineConfig",
    "Pricer",
    "TraceIngest",
    "normalize_request",
]
