"""A chunk step (or one partition of one): read-process-write in checkpointed chunks.

The order of calls is the specification's (JSR-352 11.5-11.8):

* open: ``reader.open(checkpoint)``, ``writer.open(checkpoint)`` (the last committed
  checkpoint on a restart, else None);
* each chunk: [``checkpoint_timeout``, ``begin_checkpoint``], ``before_chunk``, then per item
  ``before_read``/``read_item``/``after_read`` and ``before_process``/``process_item``/
  ``after_process`` until the checkpoint policy says so (item-count or time-limit, or the
  custom algorithm's ``is_ready_to_checkpoint``) or the data ends; ``before_write``/
  ``write_items``/``after_write`` when at least one item was read; ``after_chunk``; the
  reader's and writer's ``checkpoint_info``; the commit (a checkpoint event, acknowledged);
  [``end_checkpoint``]; the partition collector;
* close: ``writer.close()``, ``reader.close()``.

Exceptions: a skippable one (skip-limit not reached) skips the item (or, from the writer, the
chunk's items); a retryable one (retry-limit not reached) is retried: without rollback for a
no-rollback exception (the same call again), else the chunk is rolled back (``close``,
``on_error``, re-``open`` at the last checkpoint) and re-processed one item per chunk. While
retrying, skippable takes precedence over retryable; otherwise retryable does. Any other
exception calls ``on_error``, counts a rollback and fails the step.

A stop ends the chunk after the current item; that chunk is written and committed, then the
step ends STOPPED.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from jsagent.api import BatchStatus, JobContext, StepContext
from jsagent.engine.checkpoint import commit
from jsagent.engine.errors import matches
from jsagent.engine.listeners import Listeners
from jsagent.engine.metrics import add
from jsagent.engine.properties import Substitution
from jsagent.engine.refs import build
from jsbus.jsl.model import Chunk

log = logging.getLogger("jsagent.worker")
SKIPPED = object()
RETRY = object()
RETRY_LISTENERS = {"read": "on_retry_read_exception", "process": "on_retry_process_exception",
                   "write": "on_retry_write_exception"}


class Rollback(Exception):
    """Internal: a retryable exception that rolls the chunk back."""

    def __init__(self, cause: BaseException):
        super().__init__(repr(cause))
        self.cause = cause


class ChunkRun:
    def __init__(self, execution, step_id: str, chunk: Chunk, substitution: Substitution,
                 job_context: JobContext, context: StepContext, listeners: Listeners,
                 partition: int = -1, checkpoint: dict[str, Any] | None = None,
                 after_commit: Callable[[], None] | None = None):
        self.execution, self.step_id, self.chunk = execution, step_id, chunk
        self.context, self.listeners, self.partition = context, listeners, partition
        self.metrics = context.metrics
        self.after_commit = after_commit
        self.reader = build(chunk.reader, "reader", substitution, job_context, context)
        self.processor = (build(chunk.processor, "processor", substitution, job_context, context)
                          if chunk.processor else None)
        self.writer = build(chunk.writer, "writer", substitution, job_context, context)
        self.algorithm = None
        if chunk.checkpoint_policy == "custom" and chunk.checkpoint_algorithm is not None:
            self.algorithm = build(chunk.checkpoint_algorithm, "checkpoint-algorithm",
                                   substitution, job_context, context)
        self.reader_point = (checkpoint or {}).get("reader")
        self.writer_point = (checkpoint or {}).get("writer")
        self.retries = self.skips = self.retry_left = 0

    def run(self) -> str:
        """Run to the end of the data (COMPLETED) or a stop (STOPPED); raises on failure."""
        self.reader.open(self.reader_point)
        try:
            self.writer.open(self.writer_point)
        except BaseException:
            self._close(self.reader)
            raise
        try:
            while not self.execution.stop.requested:
                if self.one_chunk():
                    status = BatchStatus.COMPLETED
                    break
            else:
                status = BatchStatus.STOPPED
        except BaseException:
            self._close(self.writer)
            self._close(self.reader)
            raise
        self.writer.close()
        self.reader.close()
        return status

    def one_chunk(self) -> bool:
        """One checkpoint interval; True when the data ended."""
        retrying = self.retry_left > 0
        custom = self.algorithm is not None and not retrying
        if custom:
            self._checkpoint_timeout()
            self.algorithm.begin_checkpoint()
        self.listeners.call("before_chunk")
        items: list[Any] = []
        count, ended, started = 0, False, time.monotonic()
        try:
            while True:
                item = self.read()
                if item is SKIPPED:
                    continue
                if item is None:
                    ended = True
                    break
                count += 1
                result = self.process(item)
                if result is not SKIPPED and result is not None:
                    items.append(result)
                if self.ready(count, started, retrying, custom) or self.execution.stop.requested:
                    break
            if count:
                self.write(items)
            self.listeners.call("after_chunk")
            reader_point = self.reader.checkpoint_info()
            writer_point = self.writer.checkpoint_info()
        except Rollback as rollback:
            self.rollback(rollback.cause, count + 1)
            return False
        except BaseException as exc:
            self.context.exception = exc
            failed = self.listeners.call_all("on_error", exc)
            if failed is not None:
                log.error("ChunkListener.on_error raised %r", failed)
            add(self.metrics, "rollback-count")
            raise
        add(self.metrics, "commit-count")
        self.reader_point, self.writer_point = reader_point, writer_point
        commit(self.execution, self.step_id, self.partition, reader_point, writer_point,
               self.context.persistent_user_data, self.metrics)
        if custom:
            self.algorithm.end_checkpoint()
        if retrying:
            self.retry_left = max(0, self.retry_left - max(count, 1))
        if self.after_commit is not None:
            self.after_commit()
        return ended

    def ready(self, count: int, started: float, retrying: bool, custom: bool) -> bool:
        if retrying:
            return True  # a chunk being retried goes one item at a time
        if custom:
            return bool(self.algorithm.is_ready_to_checkpoint())
        if count >= self.chunk.item_count:
            return True
        limit = self.chunk.time_limit
        return bool(limit) and time.monotonic() - started >= limit

    def read(self) -> Any:
        while True:
            self.listeners.call("before_read")
            try:
                item = self.reader.read_item()
            except Exception as exc:  # noqa: BLE001 - classified below
                self.context.exception = exc
                self.listeners.call("on_read_error", exc)
                if self.handle(exc, "read", ()) is RETRY:
                    continue
                add(self.metrics, "read-skip-count")
                self.listeners.call("on_skip_read_item", exc)
                return SKIPPED
            if item is not None:
                add(self.metrics, "read-count")
                self.listeners.call("after_read", item)
            return item

    def process(self, item: Any) -> Any:
        if self.processor is None:
            return item
        while True:
            self.listeners.call("before_process", item)
            try:
                result = self.processor.process_item(item)
            except Exception as exc:  # noqa: BLE001 - classified below
                self.context.exception = exc
                self.listeners.call("on_process_error", item, exc)
                if self.handle(exc, "process", (item,)) is RETRY:
                    continue
                add(self.metrics, "process-skip-count")
                self.listeners.call("on_skip_process_item", item, exc)
                return SKIPPED
            self.listeners.call("after_process", item, result)
            if result is None:
                add(self.metrics, "filter-count")
            return result

    def write(self, items: list[Any]) -> None:
        while True:
            self.listeners.call("before_write", items)
            try:
                self.writer.write_items(items)
            except Exception as exc:  # noqa: BLE001 - classified below
                self.context.exception = exc
                self.listeners.call("on_write_error", items, exc)
                if self.handle(exc, "write", (items,)) is RETRY:
                    continue
                add(self.metrics, "write-skip-count")
                self.listeners.call("on_skip_write_item", items, exc)
                return
            add(self.metrics, "write-count", len(items))
            self.listeners.call("after_write", items)
            return

    def handle(self, exc: Exception, kind: str, args: tuple) -> Any:
        """SKIPPED or RETRY (retry in place), or raise Rollback or ``exc`` itself."""
        chunk = self.chunk
        skippable = matches(exc, chunk.skippable) and (
            chunk.skip_limit is None or self.skips < chunk.skip_limit)
        retryable = matches(exc, chunk.retryable) and (
            chunk.retry_limit is None or self.retries < chunk.retry_limit)
        if skippable and (self.retry_left > 0 or not retryable):
            self.skips += 1
            return SKIPPED
        if retryable:
            self.retries += 1
            self.listeners.call(RETRY_LISTENERS[kind], *args, exc)
            if matches(exc, chunk.no_rollback):
                return RETRY
            raise Rollback(exc)
        raise exc

    def rollback(self, cause: BaseException, items: int) -> None:
        """The rollback procedure, then re-process the chunk one item at a time."""
        self.writer.close()
        self.reader.close()
        self.listeners.call("on_error", cause)
        add(self.metrics, "rollback-count")
        self.writer.open(self.writer_point)
        self.reader.open(self.reader_point)
        self.retry_left = items

    def _checkpoint_timeout(self) -> None:
        method = getattr(self.algorithm, "check_point_timeout", None)
        if not callable(method):
            method = getattr(self.algorithm, "checkpoint_timeout", None)
        if callable(method):
            method()  # informative: there is no transaction to time out

    @staticmethod
    def _close(artifact: Any) -> None:
        try:
            artifact.close()
        except BaseException as exc:  # noqa: BLE001 - the step fails for the first error
            log.warning("close() of %s after a failure raised %r", type(artifact).__name__, exc)
