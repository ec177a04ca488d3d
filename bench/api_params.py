"""Parsing an analytics request's parameters: the spec's parser (server/api/spec.py) against the
hand-written parsers at a git revision that had them, alternating in one process.

    python bench/api_params.py [--rev 54d7265] [--rounds 5]

Both parse the query string of a dashboard's summary request (range, three filters, tags, a
comparison, a currency) into the period, the filters, the compared period and explain. Prints
the median µs per parse of each round and the ratio spec / revision.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from multidict import MultiDict, MultiDictProxy

from spantally.server.api.analytics_params import compare_of, explain_of, period_of
from spantally.server.api.spec import endpoint_named

_ROOT = Path(__file__).resolve().parent.parent
_QUERY = MultiDictProxy(MultiDict([
    ("from", "2026-11-01T00:00:00Z"), ("to", "2026-11-08T00:00:00Z"), ("agentId", "planner"),
    ("model", "gpt-4o"), ("environment", "production"), ("tags", "feature:search,team:core"),
    ("compare", "previous_period"), ("currency", "eur"),
]))
_MAX_RANGE_DAYS = 400


def _module_at(rev: str, path: str, name: str, renames: dict[str, str]) -> ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=_ROOT, check=True,
                            capture_output=True, text=True).stdout
    for old, new in renames.items():  # its sibling modules at the same revision
        source = source.replace(old, new)
    file = Path(tempfile.mkdtemp()) / f"{name.rpartition('.')[2]}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _hand_written(rev: str) -> Callable[[], Any]:
    package = "spantally.server.api"
    params = _module_at(rev, "server/api/params.py", f"{package}.params_at_rev", {})
    analytics = _module_at(rev, "server/api/analytics_params.py",
                           f"{package}.analytics_params_at_rev",
                           {"from .params import": "from .params_at_rev import"})

    def parse() -> Any:
        period = analytics.parse_period(_QUERY, _MAX_RANGE_DAYS)
        filters = params.parse_filters(_QUERY)
        fmt = analytics.parse_format(_QUERY)
        explain = analytics.parse_explain(_QUERY, fmt)
        previous = analytics.parse_compare(_QUERY, period, _MAX_RANGE_DAYS)
        currency = params.parse_currency("currency", _QUERY["currency"])
        return period, filters, explain, previous, currency

    return parse


def _spec() -> Callable[[], Any]:
    endpoint = endpoint_named("summary")

    def parse() -> Any:
        args = endpoint.parse({name: _QUERY.getall(name) for name in _QUERY.keys()})
        period = period_of(args, _MAX_RANGE_DAYS)
        return (period, args.filters(), explain_of(args), compare_of(args, period,
                                                                       _MAX_RANGE_DAYS),
                args["currency"])

    return parse


def _median_us(parse: Callable[[], Any], count: int = 20_000) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count // 5):
            parse()
        times.append((time.perf_counter() - start) / (count // 5) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="54d7265")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    old, new = _hand_written(options.rev), _spec()
    old_result, new_result = old(), new()
    assert old_result[1] == new_result[1], (old_result[1], new_result[1])  # the same filters
    print(f"{'round':>5} {'revision µs':>12} {'spec µs':>9} {'ratio':>6}")
    ratios = []
    for round_ in range(1, options.rounds + 1):
        before, after = _median_us(old), _median_us(new)
        ratios.append(after / before)
        print(f"{round_:>5} {before:>12.1f} {after:>9.1f} {after / before:>6.2f}")
    print(f"median ratio spec / {options.rev}: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
