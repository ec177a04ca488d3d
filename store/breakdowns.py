"""A dimension's values ranked by a measure: the top ones with their full measures, and the
rest together, so that the rows always add up to the total."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import psycopg

from .executor import Explain, Grouped, answer
from .measures import Measures
from .question import Dimension, Filters, Question

__all__ = ["BREAKDOWN_ORDERS", "BREAKDOWN_SORTS", "Breakdown", "breakdown"]

BREAKDOWN_SORTS: dict[str, Callable[[Measures], int]] = {
    "cost": lambda m: m.cost_nano_usd,
    "calls": lambda m: m.calls,
    "tokens": lambda m: m.total_tokens,
    "errors": lambda m: m.errors,
}


@dataclass(slots=True)
class Breakdown:
    rows: list[tuple[str | None, Measures]]
    """The top values (None: calls without one), in the order asked (largest first)."""
    rest: Measures
    """Everything else."""
    more: bool
    """Whether values beyond the top exist (an `other` row is due)."""
    total: Measures


BREAKDOWN_ORDERS: Final = ("desc", "asc")
"""Largest first (the default), or smallest first (a leaderboard's tail)."""


def _ranked(by_key: dict[str | None, Measures], sort: str, order: str) -> list[str | None]:
    measure = BREAKDOWN_SORTS[sort]
    sign = -1 if order == "desc" else 1
    return sorted(by_key, key=lambda k: (sign * measure(by_key[k]), sign * by_key[k].calls,
                                         k is None, k or ""))


def _with_histograms(sums: Measures, measured: Measures | None) -> Measures:
    # The sums may come from an aggregate that outlives raw calls: they stay; the histograms are
    # those of the calls still held.
    if measured is not None:
        sums.latency_hist, sums.ttft_hist = measured.latency_hist, measured.ttft_hist
    return sums


async def breakdown(conn: psycopg.AsyncConnection, project_id: int, start: datetime,
                    end: datetime, filters: Filters, dimension: Dimension, sort: str,
                    limit: int, keys: list[str | None] | None = None,
                    explain: Explain | None = None, order: str = "desc",
                    tag_keys: frozenset[str] = frozenset()) -> Breakdown:
    """The top `limit` values of `dimension` by `sort` (then calls, then value; `order` asc:
    the bottom ones, smallest first), or the given `keys` (to set a previous period beside a
    current one); `tag_keys`: the project's declared tag keys (Question.tag_keys)."""
    question = Question(start, end, filters, (dimension,), tag_keys=tag_keys)
    only = tuple(keys) if keys is not None else None
    if not dimension.many_values:
        # Few values, or (tags) no index to find the top values' calls again: one pass with
        # histograms, which measured a third faster than two for a tag with a few values.
        grouped = await answer(conn, project_id, question, explain)
        by_key, total = _single(grouped), grouped.total()
        chosen = keys if keys is not None else _ranked(by_key, sort, order)[:limit]
        more = len(by_key) > len(chosen)
        detail = by_key
    else:
        # Many values (users, sessions): rank on sums alone (users without filters from their
        # daily aggregate), then read the histograms of the top values only, through their
        # index; the total comes from the aggregates when the filters allow.
        sums = _single(await answer(conn, project_id, replace(question, histograms=False,
                                                              only=only), explain))
        if keys is None:
            chosen = _ranked(sums, sort, order)[:limit]
            more = len(sums) > len(chosen)
        else:
            chosen, more = keys, True
        histograms = _single(await answer(conn, project_id, replace(
            question, only=tuple(chosen)), explain)) if chosen else {}
        detail = {key: _with_histograms(sums[key], histograms.get(key))
                  for key in chosen if key in sums}
        total = (await answer(conn, project_id, Question(start, end, filters,
                                                         tag_keys=tag_keys), explain)).total()
    rows = [(key, detail.get(key) or Measures()) for key in chosen]
    rest = Measures()
    rest.add(total)
    for _, measures in rows:
        rest.subtract(measures)
    return Breakdown(rows, rest, more, total)


def _single(grouped: Grouped) -> dict[str | None, Measures]:
    """Measures per value of a question's one group-by dimension."""
    return {key: measures for (key,), measures in grouped.by_key().items()}
