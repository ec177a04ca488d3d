"""Spikes in cost, call volume, error rate and latency, hour by hour, against the same hour of
the previous days (the trailing baseline), for the project and for each agent and each model.

For one hour of one scope (the project, an agent or a model) and one metric:
- the baseline is the metric at the same UTC hour on each of the `baseline_days` days before;
  cost and calls count a day without calls as 0, error rate and latency leave such a day out;
- no verdict without at least `min_baseline_days` baseline days that had calls, nor on an hour
  with fewer than `min_calls` calls (sparse traffic would otherwise raise noise);
- cost, volume and latency spike when the hour's value is at least `min_ratio` times the
  baseline mean and at least `min_z` standard deviations above it (any rise when the baseline
  does not vary); latency and error rate need `min_calls` calls in the hour;
- the error rate spikes when it is at least `min_rate_rise` above the baseline mean and `min_z`
  standard deviations above it;
- severity: ratio 5+ (rate rise 0.5+) high, 3+ (0.25+) medium, otherwise low.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import psycopg

from .buckets import Granularity
from .executor import Explain, execute
from .measures import Measures
from .planner import Plan, plan
from .question import DIMENSIONS, Filters, Question

__all__ = ["ANOMALY_KINDS", "ANOMALY_SCOPES", "Anomaly", "AnomalyRules", "anomaly_id",
           "detect_anomalies", "find_anomalies", "hourly_measures"]

ANOMALY_KINDS = ("cost_spike", "volume_spike", "error_rate_spike", "latency_spike")
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    baseline_days: int = 7
    min_baseline_days: int = 3
    min_ratio: float = 2.0
    min_z: float = 3.0
    min_calls: int = 20
    """Calls an hour needs before any of its measures is judged (a demo week of 2,962 calls:
    66 anomalies without this rule, 37 at 10, 12 at 20)."""
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


def anomaly_id(kind: str, scope: str, key: str | None, hour: datetime) -> str:
    """The id of an anomaly that began in `hour`: the same whether it is detected on request
    or stored by the detector, and safe in a URL whatever the agent's or model's name."""
    text = "\x1f".join((kind, scope, key or "", hour.astimezone(timezone.utc).isoformat()))
    return "anomaly_" + hashlib.sha256(text.encode()).hexdigest()[:16]


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
    if actual_m.calls < rules.min_calls:
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


_NO_FILTERS = Filters()
_RULES = AnomalyRules()
ANOMALY_SCOPES = {"agent": DIMENSIONS["agent"], "model": DIMENSIONS["model"]}
"""The scopes judged besides the whole project, by the dimension whose values they are."""
_HOUR = timedelta(hours=1)

Hourly = dict[str, dict[str | None, dict[datetime, Measures]]]


def _plans(hours: Sequence[datetime], filters: Filters, rules: AnomalyRules) -> dict[str, Plan]:
    """The plans reading what judging `hours` (consecutive UTC hours) needs: each scope's
    measures per hour over those hours and the baseline days before them."""
    question = Question(hours[0] - timedelta(days=rules.baseline_days), hours[-1] + _HOUR,
                        filters, granularity=Granularity.HOUR, histograms=False)
    # The rules use sums alone: no histograms to add up.
    return {scope: plan(replace(question, group_by=(dimension,)))
            for scope, dimension in ANOMALY_SCOPES.items()}


async def hourly_measures(conn: psycopg.AsyncConnection, project_id: int,
                          hours: Sequence[datetime], filters: Filters = _NO_FILTERS,
                          rules: AnomalyRules = _RULES, explain: Explain | None = None,
                          check: Callable[[Plan], None] | None = None) -> Hourly:
    """`[scope][key][hour]`: the measures per UTC hour detect_anomalies judges `hours` from;
    `check` sees each plan first (the API refuses one that reads too many raw calls)."""
    hourly: Hourly = {}
    if not hours:
        return hourly
    plans = _plans(hours, filters, rules)
    for planned in plans.values():
        if check is not None:
            check(planned)
    project: dict[datetime, Measures] = {}
    hourly["project"] = {None: project}
    for scope, planned in plans.items():
        grouped = await execute(conn, project_id, planned, explain)
        series = hourly.setdefault(scope, {})
        for (bucket, (key,)), measures in grouped.cells.items():
            assert bucket is not None
            hour = bucket.astimezone(timezone.utc)
            if scope == "agent":  # every call has one agent or none: the project's sum
                project.setdefault(hour, Measures()).add(measures)
            if key is not None:  # calls without an agent (model) count for the project
                series.setdefault(key, {})[hour] = measures
    return hourly


async def find_anomalies(conn: psycopg.AsyncConnection, project_id: int,
                         hours: Sequence[datetime], filters: Filters = _NO_FILTERS,
                         rules: AnomalyRules = _RULES, explain: Explain | None = None,
                         check: Callable[[Plan], None] | None = None) -> list[Anomaly]:
    """The anomalies of `hours` (consecutive UTC hours), newest first, then by severity."""
    hourly = await hourly_measures(conn, project_id, hours, filters, rules, explain, check)
    return detect_anomalies(hourly, list(hours), rules)
