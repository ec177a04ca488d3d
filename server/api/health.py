"""/healthz and /metrics: the process, its database, and the database's maintenance (TimescaleDB
version and edition, each policy with its last runs, the aggregates' watermarks)."""

from __future__ import annotations

import logging
from datetime import datetime

from aiohttp import web

from spantally import __version__
from spantally.store import MaintenanceHealth, maintenance_health

from . import models
from .route import Route
from .services import SERVICES_KEY

__all__ = ["ROUTES", "healthz", "metrics"]

log = logging.getLogger("spantally.server")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


async def _maintenance(request: web.Request) -> MaintenanceHealth | None:
    services = request.app[SERVICES_KEY]
    database = services.database
    if database.mode is None:
        return None
    try:
        async with database.pool.connection(timeout=2.0) as conn:
            return await maintenance_health(conn, database.mode)
    except Exception:  # noqa: BLE001 - health reports what it can; the ping says why
        log.warning("reading the maintenance state failed", exc_info=True)
        return None


def _maintenance_json(health: MaintenanceHealth) -> dict[str, object]:
    now = health.checked_at
    jobs = []
    for job in health.jobs:
        own = job.own_run
        jobs.append({
            "task": job.task,
            "jobId": job.job_id,
            "scheduleSeconds": job.schedule.total_seconds(),
            "healthy": job.healthy(now),
            "lastRunBy": job.run_by,
            "scheduler": {
                "scheduled": job.scheduled,
                "lastRun": _iso(job.last_run_started),
                "lastStatus": job.last_run_status,
                "lastSuccess": _iso(job.last_success),
                "runs": job.total_runs,
                "failures": job.total_failures,
                "lastError": job.last_error,
                "runsIt": job.scheduler_runs_it(now),
            },
            "spantally": None if own is None else {
                "lastRun": _iso(own.started_at),
                "lastStatus": "Success" if own.succeeded else "Failed",
                "lastError": own.error,
                "runs": own.runs,
                "failures": own.failures,
            },
        })
    scheduled_tasks = {job.task for job in health.jobs}
    body: dict[str, object] = {
        "timescaledb": None if health.timescaledb_version is None else {
            "version": health.timescaledb_version, "edition": health.edition},
        "jobsHealthy": health.jobs_healthy,
        "jobs": jobs,
        # SpanTally's runs of tasks that are no TimescaleDB job (retention without policies).
        "tasks": [{"task": run.task, "lastRun": _iso(run.started_at),
                   "lastStatus": "Success" if run.succeeded else "Failed",
                   "lastError": run.error, "runs": run.runs, "failures": run.failures}
                  for run in health.runs if run.task not in scheduled_tasks],
        "aggregateWatermarks": {name: _iso(at) for name, at in health.watermarks.items()},
    }
    if health.columnstore is not None:
        body["columnstore"] = {"chunks": health.columnstore.chunks,
                               "compressedChunks": health.columnstore.compressed_chunks}
    return body


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    reachable = await services.database.ping()
    body: dict[str, object] = {
        "status": "ok" if reachable else "unavailable",
        "version": __version__,
        "storageMode": services.database.mode.value if services.database.mode else None,
        "database": {"reachable": reachable, "error": services.database.last_error or None},
    }
    if services.queued_calls is not None:
        body["queuedCalls"] = services.queued_calls()
    if reachable:
        health = await _maintenance(request)
        if health is not None:
            body["maintenance"] = _maintenance_json(health)
    return web.json_response(body, status=200 if reachable else 503)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _maintenance_metrics(health: MaintenanceHealth) -> list[str]:
    now = health.checked_at
    lines = ["# HELP spantally_job_healthy 1 when the policy's work was done within its schedule "
             "(by TimescaleDB's scheduler or by SpanTally)",
             "# TYPE spantally_job_healthy gauge"]
    lines += [f'spantally_job_healthy{{task="{_label(j.task)}"}} {int(j.healthy(now))}'
              for j in health.jobs]
    lines += ["# HELP spantally_job_scheduler_runs_it 1 when TimescaleDB's scheduler runs the "
              "policy (0: SpanTally stands in)", "# TYPE spantally_job_scheduler_runs_it gauge"]
    lines += [f'spantally_job_scheduler_runs_it{{task="{_label(j.task)}"}} '
              f"{int(j.scheduler_runs_it(now))}" for j in health.jobs]
    lines += ["# HELP spantally_job_scheduler_failures_total failed runs of the policy by "
              "TimescaleDB's scheduler", "# TYPE spantally_job_scheduler_failures_total counter"]
    lines += [f'spantally_job_scheduler_failures_total{{task="{_label(j.task)}"}} '
              f"{j.total_failures}" for j in health.jobs]
    lines += ["# HELP spantally_maintenance_runs_total maintenance tasks SpanTally ran itself",
              "# TYPE spantally_maintenance_runs_total counter"]
    for run in health.runs:
        task = _label(run.task)
        lines.append(f'spantally_maintenance_runs_total{{task="{task}",result="success"}} '
                     f"{run.runs - run.failures}")
        lines.append(f'spantally_maintenance_runs_total{{task="{task}",result="failure"}} '
                     f"{run.failures}")
    lines += ["# HELP spantally_aggregate_watermark_seconds end of the continuous aggregate's "
              "materialized buckets (Unix time)",
              "# TYPE spantally_aggregate_watermark_seconds gauge"]
    lines += [f'spantally_aggregate_watermark_seconds{{aggregate="{name}"}} {at.timestamp():.0f}'
              for name, at in health.watermarks.items() if at is not None]
    if health.columnstore is not None:
        lines += ["# TYPE spantally_raw_chunks gauge",
                  f'spantally_raw_chunks{{compressed="true"}} '
                  f"{health.columnstore.compressed_chunks}",
                  f'spantally_raw_chunks{{compressed="false"}} '
                  f"{health.columnstore.chunks - health.columnstore.compressed_chunks}"]
    return lines


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    lines = []
    if services.collector_stats is not None:
        for name, value in services.collector_stats.as_dict().items():
            lines.append(f"# TYPE spantally_{name}_total counter")
            if isinstance(value, dict):
                lines.extend(f'spantally_{name}_total{{reason="{reason}"}} {count}'
                             for reason, count in value.items())
            else:
                lines.append(f"spantally_{name}_total {value}")
    if services.queued_calls is not None:
        lines.append("# TYPE spantally_queued_calls gauge")
        lines.append(f"spantally_queued_calls {services.queued_calls()}")
    lines.append("# TYPE spantally_database_up gauge")
    lines.append(f"spantally_database_up {int(services.database.available)}")
    if services.database.available:
        health = await _maintenance(request)
        if health is not None:
            lines += _maintenance_metrics(health)
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", healthz, "Database reachability, storage mode and maintenance",
          models.Health, auth="none", unavailable_answer=True,
          description="`maintenance`: the TimescaleDB version and edition; in `timescale` "
          "mode every policy with its last runs (by TimescaleDB's scheduler or by SpanTally), "
          "the aggregates' watermarks and the columnstore's chunks (docs/operations.md, "
          "\"Background jobs\")."),
)
