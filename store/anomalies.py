"""Spikes in cost, call volume, error rate and latency, hour by hour, against the same hour of
the previous days (the trailing baseline), for the project and for each agent and each model.

For one hour of one scope (the project, an agent or a model) and one metric:
- the baseline is the metric at the same UTC hour on each of the `baseline_days` days before;
  cost and calls count a day without calls as 0, error rate and latency leave such a day out;
- no verdict without at least `min_baseline_days` baseline days that had calls;
- cost, volume and latency spike when the hour's value is at least `min_ratio` times the
  baseline mean and at least `min_z` standard deviations above it (any rise when the baseline
  does not vary); latency and error rate need `min_calls` calls in the hour;
- the error rate spikes when it is at least `min_rate_rise` above the baseline mean and `min_z`
  standard deviations above it;
- severity: ratio 5+ (rate rise 0.5+) high, 3+ (0.25+) medium, otherwise low.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .measures import Measures

__all__ = ["ANOMALY_KINDS", "Anomaly", "AnomalyRules", "detect_anomalies"]

ANOMALY_KINDS = ("cost_spike", "volume_spike", "error_rate_spike", "latency_spike")
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    baseline_days: int = 7
    min_baseline_days: int = 3
    min_ratio: float = 2.0
    min_z: float = 3.0
    min_calls: int = 5
    min_rate_rise: float = 0.10


@dataclass(frozen=True, slots=True)
class Anomaly:
    hour: datetime
    """Start of the UTC hour it happened in."""
    kind: str
    scope: str
    """project, agent or model."""
    key: str | None
    """The agent or model (None for the project)."""
    severity: str
    expected: float
    """Baseline mean: nano-USD, calls, a rate 0..1, or milliseconds."""
    actual: float
    baseline_days: int
    z_score: float | None
    """None when the baseline does not vary."""


@dataclass(frozen=True, slots=True)
class _Metric:
    kind: str
    value: Callable[[Measures], float | None]
    empty_is_zero: bool
    by_rise: bool


def _rate(m: Measures) -> float | None:
    return m.errors / m.calls if m.calls else None


def _latency(m: Measures) -> float | None:
    return m.latency_us_sum / m.latency_count / 1000 if m.latency_count else None


_METRICS = (
    _Metric("cost_spike", lambda m: float(m.cost_nano_usd), True, False),
    _Metric("volume_spike", lambda m: float(m.calls), True, False),
    _Metric("error_rate_spike", _rate, False, True),
    _Metric("latency_spike", _latency, False, False),
)
_EMPTY = Measures()


def _judge(metric: _Metric, actual_m: Measures, baseline: list[Measures],
           rules: AnomalyRules) -> tuple[str, float, float, int, float | None] | None:
    active = [m for m in baseline if m.calls]
    if len(active) < rules.min_baseline_days:
        return None
    if not metric.empty_is_zero and actual_m.calls < rules.min_calls:
        return None
    actual = metric.value(actual_m)
    sample = [metric.value(m) for m in (baseline if metric.empty_is_zero else active)]
    values = [v for v in sample if v is not None]
    if actual is None or not values:
        return None
    expected = statistics.fmean(values)
    sigma = statistics.pstdev(values)
    rise = actual - expected
    if rise <= 0:
        return None
    z = rise / sigma if sigma > 0 else None
    if z is not None and z < rules.min_z:
        return None
    if metric.by_rise:
        if rise < rules.min_rate_rise:
            return None
        severity = "high" if rise >= 0.5 else "medium" if rise >= 0.25 else "low"
    else:
        if expected <= 0 or actual < rules.min_ratio * expected:
            return None
        ratio = actual / expected
        severity = "high" if ratio >= 5 else "medium" if ratio >= 3 else "low"
    return severity, expected, actual, len(active), z


def detect_anomalies(
    hourly: Mapping[str, Mapping[str | None, Mapping[datetime, Measures]]],
    hours: list[datetime],
    rules: AnomalyRules = AnomalyRules(),
) -> list[Anomaly]:
    """`hourly[scope][key][hour]`: measures per UTC hour, covering `hours` and the baseline
    days before them. Newest first, then by severity."""
    found: list[Anomaly] = []
    for scope, by_key in hourly.items():
        for key, series in by_key.items():
            for hour in hours:
                actual = series.get(hour, _EMPTY)
                baseline = [series.get(hour - timedelta(days=d), _EMPTY)
                            for d in range(1, rules.baseline_days + 1)]
                for metric in _METRICS:
                    verdict = _judge(metric, actual, baseline, rules)
                    if verdict is not None:
                        severity, expected, value, days, z = verdict
                        found.append(Anomaly(hour, metric.kind, scope, key, severity, expected,
                                             value, days, None if z is None or math.isinf(z)
                                             else round(z, 3)))
    found.sort(key=lambda a: (-a.hour.timestamp(), _SEVERITY_ORDER[a.severity], a.kind, a.scope,
                              a.key or ""))
    return found
