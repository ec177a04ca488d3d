"""The shapes of agent runs in answers: a set of runs' measures, one run, one step."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from spantally.store import RunMeasures, RunRecord, RunStep, percentile_ms
from spantally.store.runs import Rollup

from .export import flatten
from .shape import Money, change, converted, iso_micro, usd

__all__ = ["RUN_CHANGE_MEASURES", "list_row", "rollup_json", "run_changes", "run_json",
           "run_measures_row", "run_row_columns", "step_json"]


def _per_run(total: int, runs: int, places: int = 3) -> float | None:
    return round(total / runs, places) if runs else None


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def run_measures_row(m: RunMeasures, money: Money | None = None) -> dict[str, Any]:
    """The measures of a set of runs; per-run figures are averages over its runs."""
    minutes = m.duration_us_sum / 60_000_000
    row: dict[str, Any] = {
        "runs": m.runs,
        "completedRuns": m.completed_runs,
        "failedRuns": m.failed_runs,
        "successRate": round(m.completed_runs / m.runs, 6) if m.runs else None,
        "avgDurationMs": _ms(round(m.duration_us_sum / m.runs)) if m.runs else None,
        "p50DurationMs": percentile_ms(m.duration_hist, 50),
        "p95DurationMs": percentile_ms(m.duration_hist, 95),
        "steps": m.steps,
        "avgSteps": _per_run(m.steps, m.runs),
        "failedSteps": m.llm_errors + m.tool_errors,
        "llmCalls": m.llm_calls,
        "failedLlmCalls": m.llm_errors,
        "llmCallsPerRun": _per_run(m.llm_calls, m.runs),
        "toolCalls": m.tool_calls,
        "failedToolCalls": m.tool_errors,
        "toolCallsPerRun": _per_run(m.tool_calls, m.runs),
        "inputTokens": m.input_tokens,
        "outputTokens": m.output_tokens,
        "cacheReadTokens": m.cache_read_tokens,
        "cacheWriteTokens": m.cache_write_tokens,
        "reasoningTokens": m.reasoning_tokens,
        "totalTokens": m.total_tokens,
        "tokensPerRun": _per_run(m.total_tokens, m.runs),
        "tokensPerMinute": round(m.total_tokens / minutes, 3) if minutes else None,
        "costUsd": usd(m.cost_nano_usd),
        "costNanoUsd": m.cost_nano_usd,
        "costPerRunUsd": usd(round(m.cost_nano_usd / m.runs)) if m.runs else None,
        "unpricedCalls": m.unpriced_calls,
    }
    if money is not None:
        row["currency"] = money.currency
        row["cost"] = converted(m.cost_nano_usd, money.per_usd)
        row["costPerRun"] = converted(round(m.cost_nano_usd / m.runs),
                                      money.per_usd) if m.runs else None
    return row


RUN_CHANGE_MEASURES: Final = ("runs", "failedRuns", "successRate", "avgDurationMs",
                              "p95DurationMs", "avgSteps", "tokensPerRun", "costUsd",
                              "costPerRunUsd")


def run_changes(current: RunMeasures, previous: RunMeasures) -> dict[str, Any]:
    now, before = run_measures_row(current), run_measures_row(previous)
    out = {name: change(now[name], before[name]) for name in RUN_CHANGE_MEASURES}
    out["costUsd"]["change"] = usd(current.cost_nano_usd - previous.cost_nano_usd)
    return out


def rollup_json(r: Rollup) -> dict[str, Any]:
    return {"llmCalls": r.llm_calls, "failedLlmCalls": r.llm_errors, "toolCalls": r.tool_calls,
            "failedToolCalls": r.tool_errors, "steps": r.llm_calls + r.tool_calls,
            "inputTokens": r.input_tokens, "outputTokens": r.output_tokens,
            "cacheReadTokens": r.cache_read_tokens, "cacheWriteTokens": r.cache_write_tokens,
            "reasoningTokens": r.reasoning_tokens,
            "totalTokens": r.input_tokens + r.output_tokens, "costUsd": usd(r.cost_nano_usd),
            "costNanoUsd": r.cost_nano_usd, "unpricedCalls": r.unpriced_calls}


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def run_json(run: RunRecord) -> dict[str, Any]:
    """One run: its span, and its roll-ups inclusive of sub-agents (`own`: its own steps)."""
    return {
        "traceId": run.trace_id.hex(), "spanId": run.span_id.hex(),
        "parentSpanId": _hex(run.parent_span_id), "parentRunSpanId": _hex(run.parent_run_span_id),
        "kind": run.kind, "agentId": run.agent_id, "agentName": run.agent_name,
        "service": run.service_name, "environment": run.environment, "userId": run.user_id,
        "sessionId": run.session_id, "startTime": iso_micro(run.time),
        "durationMs": _ms(run.duration_us), "status": run.status, "errorType": run.error_type,
        **rollup_json(run.inclusive),
        "models": list(run.models), "providers": list(run.providers), "tags": run.tags,
        "own": rollup_json(run.own),
    }


def list_row(run: RunRecord) -> dict[str, Any]:
    """A run as a row of a list: lists (models, tags) as text, for CSV."""
    row = run_json(run)
    row["models"] = ",".join(run.models)
    row["providers"] = ",".join(run.providers)
    row["tags"] = None if run.tags is None else ",".join(f"{k}:{v}" for k, v in run.tags.items())
    return row


def run_row_columns() -> tuple[str, ...]:
    template = run_json(RunRecord(datetime(2026, 1, 1).astimezone(), b"\0" * 16, b"\0" * 8, None,
                                  None, "agent", None, None, None, None, None, None, 0, "ok",
                                  None, None, Rollup(), Rollup(), (), ()))
    return tuple(flatten(template))


def step_json(step: RunStep, run: RunRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": step.kind, "spanId": step.span_id.hex(), "parentSpanId": _hex(step.parent_span_id),
        "runSpanId": step.run_span_id.hex(), "depth": step.depth, "name": step.name,
        "startTime": iso_micro(step.time),
        "offsetMs": _ms(int((step.time - run.time).total_seconds() * 1_000_000)),
        "durationMs": _ms(step.duration_us), "status": step.status, "errorType": step.error_type,
    }
    if step.kind == "call":
        d = step.details
        cost = d["cost_nano_usd"]
        row.update({"provider": d["provider"], "operation": d["operation"],
                    "inputTokens": d["input_tokens"], "outputTokens": d["output_tokens"],
                    "cacheReadTokens": d["cache_read_tokens"],
                    "cacheWriteTokens": d["cache_write_tokens"],
                    "reasoningTokens": d["reasoning_tokens"],
                    "costUsd": None if cost is None else usd(cost), "costNanoUsd": cost,
                    "ttftMs": _ms(d["ttft_us"])})
    return row
