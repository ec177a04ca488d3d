"""The bounded queue between receivers and the database writer.

Receivers submit the records of one request (its calls, runs, tools and links) and wait until
they are committed: a request is acknowledged only after its records are durable, so nothing
acknowledged can be lost, and a failed write is answered with a retryable status. Writers take
whatever is queued (up to `max_batch_calls` records, waiting at most `linger_s` for more), so
many small requests share one COPY and one commit under load, while a lone request is written
at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from spantally.common.errors import Unavailable
from spantally.store import CallWriter, Database, SpanRecords, StoreError, StoreUnavailable

from .stats import CollectorStats

__all__ = ["Pipeline", "PipelineConfig"]

log = logging.getLogger("spantally.collector")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_queue_calls: int = 100_000
    """Records (calls, runs, tools, links) queued or being written, at most; beyond it
    receivers answer "retry later"."""
    max_batch_calls: int = 5_000
    linger_s: float = 0.005
    writers: int = 2


@dataclass(slots=True)
class _Pending:
    records: SpanRecords
    done: asyncio.Future[None]


class Pipeline:
    def __init__(
        self, writer: CallWriter, database: Database, config: PipelineConfig, stats: CollectorStats
    ) -> None:
        self._writer = writer
        self._db = database
        self._config = config
        self._stats = stats
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._queued_calls = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def queued_calls(self) -> int:
        return self._queued_calls

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run_writer(), name=f"spantally-writer-{i}")
            for i in range(self._config.writers)
        ]

    async def submit(self, records: SpanRecords) -> None:
        """Return once `records` are committed; raise Unavailable if they could not be."""
        if self._closing:
            raise Unavailable("the collector is shutting down; retry against another instance")
        if not self._db.available:
            raise Unavailable("the database is unavailable; retry later", retry_after_s=2)
        # A request larger than the whole bound still goes through an empty queue; refusing it
        # would make its exporter retry forever.
        size = len(records)
        if self._queued_calls and self._queued_calls + size > self._config.max_queue_calls:
            self._stats.queue_full += 1
            raise Unavailable("the collector is at capacity; retry later")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued_calls += size
        self._queue.put_nowait(_Pending(records, done))
        # Shielded: a client that disconnects does not cancel a write already queued.
        await asyncio.shield(done)

    async def close(self, timeout_s: float) -> None:
        """Stop accepting, write everything queued within `timeout_s`, and stop the writers;
        what is still unwritten then is answered "retry later", never acknowledged."""
        self._closing = True
        for _ in self._tasks:
            self._queue.put_nowait(None)
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=max(timeout_s, 0.001))
        for task in pending:
            task.cancel()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and not item.done.done():
                item.done.set_exception(Unavailable("the collector shut down before writing"))

    # -- writers -------------------------------------------------------------------------

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.records)
            deadline = loop.time() + self._config.linger_s
            stop = False
            while size < self._config.max_batch_calls:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.records)
            await self._flush(batch)
            if stop:
                return

    async def _flush(self, batch: list[_Pending]) -> None:
        records = SpanRecords()
        for pending in batch:
            records.extend(pending.records)
        try:
            result = await self._writer.write(records)
        except asyncio.CancelledError:
            # Shutdown ran out of time mid-write: the transaction is rolled back with the
            # connection, so these requests are told to retry, not that they are stored.
            self._settle(batch, Unavailable("the collector shut down before writing"))
            raise
        except StoreUnavailable as exc:
            self._settle(batch, exc)
            return
        except StoreError as exc:
            if len(batch) == 1:
                log.error("rejected a batch of %d records: %s", len(records), exc)
                self._settle(batch, exc)
                return
            # One request's bad data must not fail the others it was batched with.
            for pending in batch:
                await self._flush([pending])
            return
        self._stats.calls_written += result.inserted
        self._stats.calls_duplicate += result.duplicates
        self._stats.calls_copies += result.copies
        self._stats.runs_received += len(records.runs)
        self._stats.tools_received += len(records.tools)
        self._settle(batch, None)

    def _settle(self, batch: list[_Pending], exc: BaseException | None) -> None:
        """Release the batch's queue space, then answer its requests: a client that is told
        "done" may send again at once and must find the space free."""
        for pending in batch:
            self._queued_calls -= len(pending.records)
        for pending in batch:
            if pending.done.done():
                continue
            if exc is None:
                pending.done.set_result(None)
            else:
                pending.done.set_exception(exc)
