"""Chunk steps in the real worker: checkpoint policies, checkpoints and their acks, skip, retry
with and without rollback, metrics (JSL 8.2.1, runtime 11.5-11.8)."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest

from jsagent.engine.errors import matches
from jsbus.jsl.model import ExceptionClasses
from tests.integration.engine_app.harness import command, run_worker

RECORDER = {"ref": "eapp_listeners.Recorder"}


def chunk_step(count: int = 10, item_count: int = 10, reader: dict | None = None,
               processor: dict | None = None, writer: dict | None = None,
               listeners: list | None = None, **chunk: object) -> dict:
    body = {"reader": {"ref": "eapp_chunk.NumberReader",
                       "properties": {"count": str(count), **(reader or {})}},
            "writer": {"ref": "eapp_chunk.FileWriter", "properties": writer or {}},
            "item-count": item_count}
    if processor is not None:
        body["processor"] = {"ref": "eapp_chunk.Processor", "properties": processor}
    body.update({key.replace("_", "-"): value for key, value in chunk.items()})
    element = {"id": "load", "chunk": body}
    if listeners:
        element["listeners"] = listeners
    return element


def writes(run) -> list[list[int]]:
    return [json.loads(message[len("write "):]) for message in run.messages("write ")]


def metrics(run, step: str = "load") -> dict:
    return run.ended[step]["metrics"]


@pytest.mark.timeout(30)
def test_item_count_checkpoints_carry_reader_writer_user_data_and_metrics(run_job):
    run = run_job(command([chunk_step(count=25, item_count=10)]))
    assert writes(run) == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    points = run.of("checkpoint")
    assert [(p["partition"], p["reader"], p["writer"], p["done"]) for p in points] == [
        (-1, 10, 10, False), (-1, 20, 20, False), (-1, 25, 25, False)]
    if run_job.mode == "worker":
        assert [p["ack"] for p in points] == [1, 2, 3]
    else:  # the agent removes the worker's ack numbers before the bus gets the checkpoints
        assert not [p for p in points if "ack" in p]
    assert points[1]["metrics"]["commit-count"] == 2
    assert all("persistent-user-data" in p for p in points)
    assert metrics(run) == {"read-count": 25, "write-count": 25, "filter-count": 0,
                            "commit-count": 3, "rollback-count": 0, "read-skip-count": 0,
                            "process-skip-count": 0, "write-skip-count": 0}
    assert run.messages("reader") == ["reader open None", "reader close"]


@pytest.mark.timeout(30)
def test_items_the_processor_returns_none_for_are_filtered_and_counted(run_job):
    run = run_job(command([chunk_step(count=10, item_count=5,
                                      processor={"filter": "3", "factor": "10"})]))
    assert writes(run) == [[10, 20, 40, 50], [70, 80, 100]]
    assert (metrics(run)["filter-count"], metrics(run)["write-count"]) == (3, 7)


@pytest.mark.timeout(30)
def test_time_limit_checkpoints_before_item_count_is_reached(run_job):
    run = run_job(command([chunk_step(count=6, item_count=100, time_limit=1,
                                      reader={"delay": "0.25"})]))
    chunks = writes(run)
    assert 2 <= len(chunks) <= 3 and 3 <= len(chunks[0]) <= 5
    assert sum(chunks, []) == list(range(1, 7))


@pytest.mark.timeout(30)
def test_a_custom_checkpoint_algorithm_decides_where_chunks_end(run_job):
    run = run_job(command([chunk_step(
        count=10, checkpoint_policy="custom",
        checkpoint_algorithm={"ref": "eapp_chunk.EveryN", "properties": {"n": "4"}})]))
    assert writes(run) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert [p["reader"] for p in run.of("checkpoint")] == [4, 8, 10]
    calls = [m for m in run.messages() if m.startswith(("algorithm", "write ["))]
    assert calls == [line for chunk in ("[1, 2, 3, 4]", "[5, 6, 7, 8]", "[9, 10]")
                     for line in ("algorithm timeout", "algorithm begin", f"write {chunk}",
                                  "algorithm end")]


@pytest.mark.timeout(30)
def test_the_worker_reads_on_only_after_the_checkpoint_is_acknowledged():
    # worker only: it answers acks itself, late; on an agent see the test after this one
    seen: dict[str, float] = {}

    def answer_late(event, proc):
        now = time.monotonic()
        if event["type"] == "checkpoint":
            seen.setdefault("first", now)
            line = (json.dumps({"ack": event["ack"]}) + "\n").encode()
            delay = 0.5 if event["ack"] == 1 else 0

            def send():
                proc.stdin.write(line)
                proc.stdin.flush()
            threading.Timer(delay, send).start()
        elif "first" in seen and "next" not in seen:
            seen["next"] = now

    run = run_worker(command([chunk_step(count=4, item_count=2)]), ack=False,
                     on_event=answer_late)
    assert run.status == "completed" and len(run.of("checkpoint")) == 3  # the last: empty
    assert seen["next"] - seen["first"] >= 0.45


def stamp(event: dict) -> datetime:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.timeout(30)
def test_on_an_agent_the_worker_reads_on_only_after_the_bus_stored_the_checkpoint(engine_agent):
    """The bus refuses the batch with the first checkpoint 3 times: the agent sends it again
    after 0.1, 0.2 and 0.4 s and only then acknowledges it to the worker, which waited."""
    execution_id = engine_agent.fresh_id()
    refused = engine_agent.bus.rejected_batches
    engine_agent.bus.refuse(lambda event: event["execution-id"] == execution_id
                            and event["type"] == "checkpoint", batches=3)
    run = engine_agent.run(command([chunk_step(count=4, item_count=2)]),
                           execution_id=execution_id)
    assert engine_agent.bus.rejected_batches - refused == 3
    assert run.status == "completed" and len(run.of("checkpoint")) == 3  # the last: empty
    first = run.events.index(run.of("checkpoint")[0])
    after = run.events[first + 1]
    assert after["type"] == "log" and after["message"] == "write [3, 4]"
    waited = (stamp(after) - stamp(run.events[first])).total_seconds()
    assert waited >= 0.6, f"the worker read on {waited:.3f} s after the first checkpoint"


@pytest.mark.timeout(30)
def test_skippable_read_errors_are_skipped_until_the_skip_limit(run_job):
    run = run_job(command([chunk_step(
        reader={"fail_at": "3,5", "error": "Skippable"}, skip_limit=2,
        skippable_exception_classes={"include": ["eapp_chunk.Skippable"]},
        listeners=[{"ref": "eapp_listeners.Recorder",
                    "properties": {"only": "on_read_error,on_skip_read_item"}}])]))
    assert run.status == "completed"
    assert sum(writes(run), []) == [1, 2, 4, 6, 7, 8, 9, 10]
    assert (metrics(run)["read-skip-count"], metrics(run)["read-count"]) == (2, 8)
    assert run.messages("L ") == ["L on_read_error Skippable", "L on_skip_read_item Skippable"] * 2
    run = run_job(command([chunk_step(
        reader={"fail_at": "3,5,7", "error": "Skippable"}, skip_limit=2,
        skippable_exception_classes={"include": ["Skippable"]})]))
    assert (run.status, run.exit_status) == ("failed", "Skippable: read failed at item 7")
    assert metrics(run)["rollback-count"] == 1 and metrics(run)["read-skip-count"] == 2


class Base(Exception):
    pass


class Middle(Base):
    pass


class Leaf(Middle):
    pass


def test_the_nearest_matching_include_or_exclude_class_decides():
    classes = ExceptionClasses(include=("Exception", "Leaf"), exclude=(f"{__name__}.Middle",))
    assert matches(Leaf("x"), classes) and matches(Base("x"), classes)
    assert not matches(Middle("x"), classes)
    assert not matches(KeyboardInterrupt(), classes)
    assert matches(OSError("x"), ExceptionClasses(include=("java.io.IOException",)))
    assert not matches(ValueError("x"), ExceptionClasses(include=("ValueError",),
                                                         exclude=("ValueError",)))


@pytest.mark.timeout(30)
def test_processor_skips_drop_the_item_and_writer_skips_drop_the_chunk(run_job):
    run = run_job(command([chunk_step(
        count=25, processor={"fail_at": "4", "error": "SkippableChild"},
        writer={"fail_at": "15", "error": "Skippable"},
        skippable_exception_classes={"include": ["Skippable"]},
        listeners=[{"ref": "eapp_listeners.Recorder",
                    "properties": {"only": "on_skip_process_item,on_skip_write_item"}}])]))
    assert run.status == "completed"
    assert writes(run) == [[1, 2, 3, 5, 6, 7, 8, 9, 10], [21, 22, 23, 24, 25]]
    assert run.messages("L ") == ["L on_skip_process_item 4 SkippableChild",
                                  f"L on_skip_write_item {list(range(11, 21))} Skippable"]
    counts = metrics(run)
    assert (counts["process-skip-count"], counts["write-skip-count"], counts["write-count"],
            counts["commit-count"]) == (1, 1, 14, 3)


@pytest.mark.timeout(30)
def test_a_retryable_exception_rolls_back_and_retries_the_chunk_one_item_at_a_time(run_job):
    run = run_job(command([chunk_step(
        count=10, item_count=5, processor={"fail_at": "7", "times": "1", "error": "Retryable"},
        retryable_exception_classes={"include": ["Retryable"]},
        listeners=[{"ref": "eapp_listeners.Recorder", "properties": {
            "only": "on_process_error,on_retry_process_exception,on_error"}}])]))
    assert run.status == "completed"
    assert writes(run) == [[1, 2, 3, 4, 5], [6], [7], [8], [9, 10]]
    assert run.messages("L ") == ["L on_process_error 7 Retryable",
                                  "L on_retry_process_exception 7 Retryable",
                                  "L on_error Retryable"]
    assert run.messages("reader open") == ["reader open None", "reader open 5"]
    counts = metrics(run)
    assert (counts["rollback-count"], counts["commit-count"], counts["read-count"],
            counts["write-count"]) == (1, 5, 12, 10)


@pytest.mark.timeout(30)
def test_a_no_rollback_exception_is_retried_in_place(run_job):
    run = run_job(command([chunk_step(
        count=5, item_count=5, writer={"fail_at": "3", "times": "1", "error": "Retryable"},
        retryable_exception_classes={"include": ["Retryable"]},
        no_rollback_exception_classes={"include": ["Retryable"]},
        listeners=[{"ref": "eapp_listeners.Recorder",
                    "properties": {"only": "on_retry_write_exception"}}])]))
    assert run.status == "completed"
    assert writes(run) == [[1, 2, 3, 4, 5]]
    assert run.messages("L ") == ["L on_retry_write_exception [1, 2, 3, 4, 5] Retryable"]
    assert run.messages("reader open") == ["reader open None"]
    assert metrics(run)["rollback-count"] == 0


@pytest.mark.timeout(30)
def test_the_retry_limit_bounds_the_retries(run_job):
    run = run_job(command([chunk_step(
        count=5, item_count=5, processor={"fail_at": "2", "error": "Retryable"}, retry_limit=2,
        retryable_exception_classes={"include": ["Retryable"]},
        listeners=[{"ref": "eapp_listeners.Recorder",
                    "properties": {"only": "on_retry_process_exception"}}])]))
    assert (run.status, run.exit_status) == ("failed", "Retryable: process failed at item 2")
    assert len(run.messages("L on_retry")) == 2
    assert metrics(run)["rollback-count"] == 3


@pytest.mark.timeout(30)
def test_an_exception_both_retryable_and_skippable_is_retried_then_skipped_while_retrying(run_job):
    run = run_job(command([chunk_step(
        count=6, item_count=3, processor={"fail_at": "2", "error": "Skippable"},
        retryable_exception_classes={"include": ["Skippable"]},
        skippable_exception_classes={"include": ["Skippable"]})]))
    assert run.status == "completed"
    assert sum(writes(run), []) == [1, 3, 4, 5, 6]
    counts = metrics(run)
    assert (counts["rollback-count"], counts["process-skip-count"]) == (1, 1)


@pytest.mark.timeout(30)
def test_an_unhandled_chunk_exception_calls_on_error_rolls_back_and_fails_the_step(run_job):
    run = run_job(command([chunk_step(
        count=10, item_count=4, processor={"fail_at": "6", "error": "Fatal"},
        listeners=[{"ref": "eapp_listeners.Recorder",
                    "properties": {"only": "on_process_error,on_error,after_step"}}])]))
    assert (run.status, run.exit_status) == ("failed", "Fatal: process failed at item 6")
    assert run.messages("L ") == ["L on_process_error 6 Fatal", "L on_error Fatal",
                                  "L after_step"]
    assert writes(run) == [[1, 2, 3, 4]]
    assert run.messages("writer close") and run.messages("reader close")
    assert (metrics(run)["rollback-count"], metrics(run)["commit-count"]) == (1, 1)
