"""Every query operation of the API, described once: its path, its parameters (type, default,
choices, bounds, documentation, gRPC field number, CLI flag) and its answer's schema.

From this description come the request parser and its errors (`Endpoint.parse`, for HTTP and
gRPC alike), the OpenAPI document (openapi.py), the CLI's options (cli/common.spec_option), and,
written by `make generate` (generate.py), the gRPC service's messages
(proto/spantally/analytics/v1/analytics.proto), the Python clients' methods (sdk/_operations.py)
and the parameter tables (docs/api-parameters.md). docs/api.md tells how to add a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spantally.common.errors import InvalidArgument
from spantally.store import (
    ANOMALY_STATUSES,
    BREAKDOWN_ORDERS,
    DIMENSIONS,
    RUN_DIMENSIONS,
    RUN_SORTS,
    SESSION_ORDERS,
    Filters,
)

from ..config import ApiConfig
from . import schemas
from .params import no_nul, parse_currency, parse_time

__all__ = [
    "ENDPOINTS",
    "FILTERS",
    "GRPC_PACKAGE",
    "GRPC_SERVICE",
    "Args",
    "Endpoint",
    "FilterParam",
    "Kind",
    "Param",
    "endpoint_named",
]

GRPC_PACKAGE: Final = "spantally.analytics.v1"
GRPC_SERVICE: Final = f"{GRPC_PACKAGE}.AnalyticsService"
"""The gRPC service of the operations (proto/spantally/analytics/v1/analytics.proto)."""

MAX_TEXT: Final = 512
_MAX_TAGS: Final = 16
_MAX_DIMENSION: Final = 200


class Kind(Enum):
    """What a parameter's text is, and so how it is parsed, documented and sent over gRPC."""

    TEXT = "text"          # 1 to max_length characters, no NUL
    TIME = "time"          # ISO 8601 date or date-time
    INTEGER = "integer"    # ASCII digits within minimum..maximum
    CHOICE = "choice"      # one of choices
    ZONE = "zone"          # an IANA time zone
    CURRENCY = "currency"  # an ISO 4217 code
    TAGS = "tags"          # key:value,key:value
    DIMENSION = "dimension"  # one of choices, or tags.<key>
    HEX = "hex"            # exactly max_length hexadecimal digits (answered in lowercase)
    DATE = "date"          # YYYY-MM-DD
    UNTIL = "until"        # as TIME, inclusive: answered as the exclusive end (a date: its
                           # whole day)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    """Its name in a query string, a gRPC message (in snake case) and the client (snake case)."""
    kind: Kind
    doc: str
    number: int = 0
    """Its field number in every gRPC request message that has it: fixed for good (0: in no
    gRPC message, as the compatibility endpoints' parameters)."""
    default: str | int | None = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = MAX_TEXT
    in_path: bool = False
    http_only: bool = False
    """Not in the gRPC messages (`format`: gRPC answers are messages)."""
    cli: str | None = None
    """Its CLI flag when not --<name in kebab case>."""

    @property
    def snake(self) -> str:
        """Its name in snake case: the gRPC field and the Python client's keyword."""
        return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", self.name).lower()

    @property
    def python(self) -> str:
        """Its Python keyword (`from_`: `from` is a keyword)."""
        return "from_" if self.snake == "from" else self.snake

    @property
    def flag(self) -> str:
        return self.cli or "--" + self.snake.replace("_", "-")

    def describe(self) -> str:
        """Its documentation with its constraints, as docs and `--help` show it."""
        parts = [self.doc]
        if self.kind in (Kind.CHOICE, Kind.DIMENSION) and self.choices:
            parts.append("One of " + ", ".join(self.choices)
                         + (" or tags.<key>" if self.kind is Kind.DIMENSION else "") + ".")
        if self.kind is Kind.INTEGER:
            parts.append(f"{self.minimum} to {self.maximum}.")
        return " ".join(parts)

    def parse(self, text: str) -> Any:
        """The typed value of `text`, or InvalidArgument naming the parameter."""
        return _PARSERS[self.kind](self, text)


def _no_nul(param: Param, text: str) -> str:
    return no_nul(param.name, text)


def _text(param: Param, text: str) -> str:
    if not text or len(text) > param.max_length:
        raise InvalidArgument(f"{param.name} must be 1 to {param.max_length} characters")
    return _no_nul(param, text)


def _time(param: Param, text: str) -> datetime:
    return parse_time(param.name, _no_nul(param, text))


def _integer(param: Param, text: str) -> int:
    assert param.minimum is not None and param.maximum is not None
    # ASCII digits only: str.isdigit() and int() also take other scripts' digits ('²', '٣').
    if not (text.isascii() and text.isdigit()) or not (
            param.minimum <= int(text) <= param.maximum):
        raise InvalidArgument(f"{param.name} must be a whole number from {param.minimum} to "
                              f"{param.maximum}, not {text[:80]!r}")
    return int(text)


def _choice(param: Param, text: str) -> str:
    if text not in param.choices:
        raise InvalidArgument(f"{param.name}: {text[:80]!r} is not one of "
                              f"{', '.join(param.choices)}")
    return text


def _zone(param: Param, text: str) -> str:
    _no_nul(param, text)
    try:
        if not text or len(text) > 64 or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(f"{param.name}: {text[:80]!r} is not an IANA time zone "
                              "(e.g. UTC, Europe/Paris, America/New_York)") from None
    return text


def _currency(param: Param, text: str) -> str:
    return parse_currency(param.name, text)


def _tags(param: Param, text: str) -> tuple[tuple[str, str], ...]:
    _text(param, text)
    pairs: list[tuple[str, str]] = []
    for pair in text.split(","):
        key, sep, value = pair.partition(":")
        if not sep or not key.strip() or not value.strip():
            raise InvalidArgument(
                f"{param.name}: {pair[:80]!r} is not key:value (tags=key:value,key:value)")
        pairs.append((key.strip(), value.strip()))
    if len(pairs) > _MAX_TAGS:
        raise InvalidArgument(f"{param.name}: at most {_MAX_TAGS} key:value pairs")
    return tuple(pairs)


def _dimension(param: Param, text: str) -> str:
    is_tag = text.startswith("tags.") and len(text) > len("tags.")
    if not is_tag and text not in param.choices or len(text) > param.max_length:
        raise InvalidArgument(f"{param.name}: {text[:80]!r} is not one of "
                              f"{', '.join(param.choices)} or tags.<key>")
    return _no_nul(param, text)


def _date(param: Param, text: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{param.name}: {text[:80]!r} is not a date as YYYY-MM-DD "
                              "(e.g. 2026-02-01)") from None
    if not 1900 <= day.year <= 8999:
        raise InvalidArgument(f"{param.name}: {text!r} is outside the years 1900 to 8999")
    return day


def _until(param: Param, text: str) -> datetime:
    """An inclusive end, as the exclusive one: a date's next midnight, a time's next
    microsecond."""
    end = _time(param, text)
    return end + (timedelta(days=1) if len(text.strip()) == 10 else timedelta(microseconds=1))


def _hex(param: Param, text: str) -> str:
    if len(text) != param.max_length or not re.fullmatch("[0-9a-fA-F]*", text):
        raise InvalidArgument(f"{param.name}: {text[:80]!r} is not {param.max_length} "
                              "hexadecimal digits")
    return text.lower()


_PARSERS: dict[Kind, Callable[[Param, str], Any]] = {
    Kind.TEXT: _text, Kind.TIME: _time, Kind.INTEGER: _integer, Kind.CHOICE: _choice,
    Kind.ZONE: _zone, Kind.CURRENCY: _currency, Kind.TAGS: _tags, Kind.DIMENSION: _dimension,
    Kind.HEX: _hex, Kind.DATE: _date, Kind.UNTIL: _until,
}


# -- the parameters ----------------------------------------------------------------------------

FROM = Param("from", Kind.TIME, "Start (inclusive): an ISO 8601 date or date-time, UTC without "
             "an offset, a date its midnight UTC. Default: `to` minus 24 hours; `to` - `from` "
             f"at most {ApiConfig().max_range_days} days.", 1)
TO = Param("to", Kind.TIME, "End (exclusive), as `from`. Default: now.", 2)


@dataclass(frozen=True, slots=True)
class FilterParam:
    param: Param
    field: str
    """The store.Filters field it sets."""


FILTERS: Final[tuple[FilterParam, ...]] = tuple(FilterParam(p, f) for p, f in (
    (Param("agentId", Kind.TEXT, "Only this agent id.", 3, cli="--agent"), "agent_id"),
    (Param("model", Kind.TEXT, "Only this model: the one that answered, else the one asked "
           "for.", 4), "model"),
    (Param("requestModel", Kind.TEXT, "Only this model as asked for (what failed calls "
           "know).", 5), "request_model"),
    (Param("provider", Kind.TEXT, "Only this provider.", 6), "provider"),
    (Param("service", Kind.TEXT, "Only this service (service.name).", 7), "service"),
    (Param("environment", Kind.TEXT, "Only this environment.", 8), "environment"),
    (Param("userId", Kind.TEXT, "Only this user id.", 9, cli="--user"), "user_id"),
    (Param("sessionId", Kind.TEXT, "Only this session id.", 10, cli="--session"),
     "session_id"),
    (Param("status", Kind.CHOICE, "Only calls (runs) that succeeded or failed.", 11,
           choices=("ok", "error")), "status"),
    (Param("tags", Kind.TAGS, "key:value,key:value: a call must carry every pair (values "
           "compared as text; a value may contain `:` but not `,`).", 12, cli="--tag"),
     "tags"),
))
# Every Filters field has its parameter, and no parameter sets a field Filters lacks.
assert {f.field for f in FILTERS} == {f.name for f in fields(Filters)}, "FILTERS drifted"

COMPARE = Param("compare", Kind.CHOICE, "Also the period of the same length just before "
                "from..to.", 13, choices=("previous_period",))
COMPARE_FROM = Param("compareFrom", Kind.TIME, "Start of the period to compare with "
                     "(with compareTo).", 14)
COMPARE_TO = Param("compareTo", Kind.TIME, "End of the period to compare with.", 15)
FORMATS: Final = ("json", "csv", "ndjson")
FORMAT = Param("format", Kind.CHOICE, "json, or the list as CSV (columns: the row's fields, "
               "nested ones dotted) or NDJSON (one row a line), streamed.", 16,
               default="json", choices=FORMATS, http_only=True)
EXPLAIN = Param("explain", Kind.CHOICE, "true: the answer also has `explain`, each plan "
                "(which relation answers which part of the range) and each query with its SQL "
                "and the rows it read. JSON answers only.", 17, default="false",
                choices=("true", "false"))
CURRENCY = Param("currency", Kind.CURRENCY, "Also show costs (`cost`) in this currency "
                 "(a rate must be set).", 18, max_length=3)
GRANULARITIES: Final = ("hour", "day", "week", "month")
GRANULARITY = Param("granularity", Kind.CHOICE, "Bucket size, in the calendar of `tz`.", 19,
                    default="day", choices=GRANULARITIES)
TZ = Param("tz", Kind.ZONE, "IANA time zone (Area/City) the buckets follow.", 20,
           default="UTC", max_length=64)
FILL = Param("fill", Kind.CHOICE, "zero: also the buckets without calls.", 21,
             default="none", choices=("none", "zero"))
SORT = Param("sort", Kind.CHOICE, "What the rows are ordered by, largest first.", 22)
LIMIT = Param("limit", Kind.INTEGER, "Rows to answer.", 23, minimum=1)
OFFSET = Param("offset", Kind.INTEGER, "Rows to skip first.", 24, default=0, minimum=0,
               maximum=10_000_000)
DIMENSION = Param("dimension", Kind.DIMENSION, "What to group by.", 25, in_path=True,
                  max_length=_MAX_DIMENSION)
TRACE_ID = Param("traceId", Kind.HEX, "The run's trace id.", 26, in_path=True, max_length=32)
SPAN_ID = Param("spanId", Kind.HEX, "The run's span id.", 27, in_path=True, max_length=16)
ORDER = Param("order", Kind.CHOICE, "desc: the largest values first (the top); asc: the "
              "smallest first (the bottom). Each row's `rank` counts from 1 in this order.", 28,
              default="desc", choices=BREAKDOWN_ORDERS)
ANOMALY_STATUS = Param("status", Kind.CHOICE, "The anomalies the hourly detector stored with "
                       "this status that held in from..to (without it: anomalies judged on "
                       "request over the whole hours of from..to, filters applied).", 11,
                       choices=(*ANOMALY_STATUSES, "any"))

_FILTERS = tuple(f.param for f in FILTERS)
_RANGE = (FROM, TO, *_FILTERS)
_COMPARED = (COMPARE, COMPARE_FROM, COMPARE_TO)
_JSON_ONLY = replace(FORMAT, default="json", choices=("json",))


# -- the endpoints -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Endpoint:
    operation: str
    """Its name: the gRPC method (in CamelCase), the client's method, the CLI's command."""
    path: str
    summary: str
    params: tuple[Param, ...]
    response: Mapping[str, Any]
    """The JSON Schema of its answer (format=json)."""
    description: str = ""
    listing: bool = True
    """Whether its answer is a list that can come as CSV or NDJSON too."""
    not_found: bool = False
    """Whether it can answer 404 (one thing, by id)."""
    download: bool = False
    """Whether its answer comes as a file to save (an attachment), in its `format`."""
    _query_names: frozenset[str] = field(init=False, repr=False, compare=False)
    _parsers: tuple[tuple[Param, Callable[[Param, str], Any]], ...] = field(
        init=False, repr=False, compare=False)
    _filters: tuple[FilterParam, ...] = field(init=False, repr=False, compare=False)

    @property
    def method(self) -> str:
        """Its gRPC method name."""
        return "".join(part.capitalize() for part in self.operation.split("_"))

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def parse(self, query: Mapping[str, Sequence[str]],
              path: Mapping[str, str] | None = None) -> Args:
        """Every parameter's typed value (its default when absent), from the query string's
        values of each name (and the path's); InvalidArgument names the parameter at fault:
        an unknown one, one given twice, or one whose value is wrong."""
        known = self._query_names
        if not known.issuperset(query):
            unknown = sorted(set(query) - known)[0]
            raise InvalidArgument(f"{unknown[:80]!r} is not a parameter of {self.path}; "
                                  f"it takes {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for param, parse in self._parsers:
            name = param.name
            if param.in_path:
                if path is None or name not in path:
                    raise InvalidArgument(f"{name} is required")
                values[name] = parse(param, path[name])
                continue
            given = query.get(name)
            if not given:
                if param.required:
                    raise InvalidArgument(f"{name} is required")
                values[name] = param.default
            elif len(given) > 1:
                raise InvalidArgument(f"{name}: given {len(given)} times; give it once")
            else:
                values[name] = parse(param, given[0])
        return Args(self, values)

    def __post_init__(self) -> None:
        # What parse() reads on every request, worked out once.
        object.__setattr__(self, "_query_names",
                           frozenset(p.name for p in self.params if not p.in_path))
        object.__setattr__(self, "_parsers", tuple((p, _PARSERS[p.kind]) for p in self.params))
        object.__setattr__(self, "_filters", tuple(f for f in FILTERS if f.param in self.params))

    def args(self, **values: Any) -> Args:
        """Its parameters from typed values by their API names, the rest their defaults (how
        another operation asks this one: the compatibility endpoints)."""
        known = {p.name for p in self.params}
        assert known.issuperset(values), sorted(set(values) - known)
        return Args(self, {p.name: values.get(p.name, p.default) for p in self.params})


class Args(Mapping[str, Any]):
    """An endpoint's parameters, typed, by their API names; `given` tells which were sent."""

    __slots__ = ("endpoint", "_values")

    def __init__(self, endpoint: Endpoint, values: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def filters(self) -> Filters:
        """The filters given (an operation without filters has none)."""
        values = {f.field: self._values[f.param.name]
                  for f in self.endpoint._filters}  # noqa: SLF001 - worked out once there
        values["tags"] = values.get("tags") or ()
        return Filters(**values)


def _sort(choices: Sequence[str], default: str) -> Param:
    return replace(SORT, choices=tuple(choices), default=default)


def _limit(default: int, maximum: int) -> Param:
    return replace(LIMIT, default=default, maximum=maximum)


ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint("llm", "/api/analytics/llm", "Summary, per model and per time bucket",
             (*_RANGE, replace(GRANULARITY, default="hour", doc="Bucket size (UTC)."),
              CURRENCY, EXPLAIN),
             schemas.LLM, listing=False,
             description="Reference 003, field for field (docs/analytics.md)."),
    Endpoint("summary", "/api/analytics/summary",
             "Calls, outcomes, tokens, cost, latency and time to first token",
             (*_RANGE, *_COMPARED, FORMAT, CURRENCY, EXPLAIN), schemas.SUMMARY),
    Endpoint("timeseries", "/api/analytics/timeseries",
             "The summary's measures per calendar bucket in a time zone",
             (*_RANGE, GRANULARITY, TZ, FILL, FORMAT, CURRENCY, EXPLAIN), schemas.TIMESERIES),
    Endpoint("breakdown", "/api/analytics/breakdown/{dimension}",
             "The measures per value of a dimension, largest first",
             (replace(DIMENSION, choices=tuple(DIMENSIONS)), *_RANGE, *_COMPARED,
              _sort(("cost", "calls", "tokens", "errors"), "cost"), ORDER,
              replace(_limit(10, 1000), doc="Rows before the `other` row that holds the rest."),
              FORMAT, CURRENCY, EXPLAIN), schemas.BREAKDOWN,
             description="A leaderboard of entities too: users, sessions, agents, services, "
             "environments, or the values of a tag (`tags.customer`)."),
    Endpoint("compare", "/api/analytics/compare",
             "Two periods side by side, with changes and trends",
             (*_RANGE, *_COMPARED, _JSON_ONLY, CURRENCY, EXPLAIN), schemas.COMPARE,
             listing=False, description="from..to against compareFrom..compareTo, or against "
             "the period of the same length just before (the default)."),
    Endpoint("sessions", "/api/analytics/sessions",
             "Sessions with calls in the range, and their summary",
             (*_RANGE, _sort(SESSION_ORDERS, "startedAt"), _limit(50, 10_000), OFFSET, FORMAT,
              EXPLAIN), schemas.SESSIONS),
    Endpoint("anomalies", "/api/analytics/anomalies",
             "Cost, volume, error-rate and latency spikes per hour",
             (FROM, TO, *(p for p in _FILTERS if p.name != "status"), ANOMALY_STATUS, FORMAT,
              EXPLAIN), schemas.ANOMALIES,
             description="Spikes in the whole UTC hours of from..to, against a baseline of the "
             "days before: judged on request, or with `status` those the hourly detector "
             "stored (active, resolved, dismissed: POST "
             "/api/analytics/anomalies/{id}/dismiss)."),
    Endpoint("runs_summary", "/api/analytics/runs",
             "Agent runs: how many, how many failed, duration, steps, tokens and cost per run",
             (*_RANGE, *_COMPARED, FORMAT, CURRENCY, EXPLAIN), schemas.RUNS_SUMMARY,
             description="Runs that started in from..to (docs/analytics.md, \"Agent runs\"). "
             "Steps, tokens and cost include sub-agents'; `model` and `provider` select the runs "
             "that used them. Durations' percentiles are exact."),
    Endpoint("runs_timeseries", "/api/analytics/runs/timeseries",
             "The runs' measures per calendar bucket in a time zone",
             (*_RANGE, GRANULARITY, TZ, FILL, FORMAT, CURRENCY, EXPLAIN),
             schemas.RUNS_TIMESERIES),
    Endpoint("runs_breakdown", "/api/analytics/runs/breakdown/{dimension}",
             "The runs' measures per agent, service, user, model (runs that used it), ..., "
             "largest first",
             (replace(DIMENSION, choices=tuple(RUN_DIMENSIONS)), *_RANGE, *_COMPARED,
              _sort(tuple(RUN_SORTS), "runs"), _limit(10, 1000), FORMAT, CURRENCY, EXPLAIN),
             schemas.RUNS_BREAKDOWN),
    Endpoint("tags", "/api/analytics/tags",
             "The tag keys of the calls in the range, the most used first",
             (*_RANGE, _limit(100, 1000), FORMAT), schemas.TAGS,
             description="Each key with the calls carrying it and its distinct values: what "
             "`tags.<key>` breakdowns and `tags` filters can name."),
    Endpoint("calls", "/api/calls", "The newest calls first, a page at a time",
             (*_RANGE, _limit(50, 1000), OFFSET, FORMAT), schemas.CALLS),
    Endpoint("call", "/api/calls/{traceId}/{spanId}", "One call, everything stored about it",
             (replace(TRACE_ID, doc="The call's trace id."),
              replace(SPAN_ID, doc="The call's span id."),), schemas.CALL, listing=False,
             not_found=True, description="Its content (prompts, completions) is never stored."),
    Endpoint("runs", "/api/runs", "The latest runs, newest first",
             (*_RANGE, _limit(50, 1000), OFFSET, FORMAT), schemas.RUNS),
    Endpoint("run", "/api/runs/{traceId}/{spanId}",
             "One run with its steps in start order (for a waterfall)",
             (TRACE_ID, SPAN_ID), schemas.RUN, listing=False, not_found=True),
)

_BY_OPERATION = {e.operation: e for e in ENDPOINTS}


def endpoint_named(operation: str) -> Endpoint:
    return _BY_OPERATION[operation]


def _check() -> None:
    """Field numbers are fixed per parameter name, and unique within a message."""
    numbers: dict[str, int] = {}
    for endpoint in ENDPOINTS:
        seen: set[int] = set()
        for param in endpoint.params:
            assert numbers.setdefault(param.name, param.number) == param.number, param.name
            assert param.number not in seen, (endpoint.operation, param.number)
            seen.add(param.number)


_check()
