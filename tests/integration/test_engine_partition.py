"""Partitioned steps in the real worker: plans and mappers, threads, partitionPlan properties,
collector -> analyzer, the reducer's lifecycle, failures and restarts (JSL 8.2.6, 9.5, 11.3)."""
from __future__ import annotations

import json
import time

import pytest

from tests.integration.engine_app.harness import command, restart

PARTS = "eapp_partition"
OBSERVERS = {"collector": {"ref": f"{PARTS}.Collector"}, "analyzer": {"ref": f"{PARTS}.Analyzer"},
             "reducer": {"ref": f"{PARTS}.Reducer"}}


def work_step(partition: dict, **props: str) -> dict:
    return {"id": "work", "batchlet": {"ref": f"{PARTS}.Work", "properties": {
                "n": "#{partitionPlan['n']}", **props}},
            "partition": partition}


def static_plan(count: int, threads: int | None = None) -> dict:
    plan = {"partitions": count, "properties": [{"n": str(n)} for n in range(count)]}
    if threads:
        plan["threads"] = threads
    return {"plan": plan, **OBSERVERS}


@pytest.mark.timeout(30)
def test_partitions_run_in_parallel_with_their_plan_properties_and_the_reducer_lifecycle(run_job):
    began = time.monotonic()
    run = run_job(command([work_step(static_plan(4), seconds="0.5")]))
    elapsed = time.monotonic() - began
    assert elapsed < 1.5, f"4 partitions of 0.5 s took {elapsed:.2f} s"
    assert run.status == "completed" and run.started == ["work"]
    assert sorted(run.messages("partition ", step="work")) == [
        f"partition {n} working" for n in range(4)]
    calls = run.messages("P ")
    assert calls[0] == "P begin" and calls[-2:] == ["P before_completion",
                                                    "P after_completion COMMIT"]
    assert sorted(c for c in calls if c.startswith("P status")) == [
        f"P status COMPLETED DONE-{n}" for n in range(4)]
    data = [json.loads(c[len("P data "):]) for c in calls if c.startswith("P data")]
    assert sorted(d["partition"] for d in data) == [0, 1, 2, 3]
    done = run.of("checkpoint")
    assert sorted(p["partition"] for p in done) == [0, 1, 2, 3] and all(p["done"] for p in done)
    assert run.ended["work"]["exit-status"] == "COMPLETED"  # partition exit statuses ignored


@pytest.mark.timeout(30)
def test_threads_bounds_how_many_partitions_run_at_once(run_job):
    began = time.monotonic()
    run = run_job(command([work_step(static_plan(4, threads=2), seconds="0.4")]))
    elapsed = time.monotonic() - began
    assert run.status == "completed"
    assert 0.75 <= elapsed < 2.0, f"4 partitions of 0.4 s on 2 threads took {elapsed:.2f} s"


@pytest.mark.timeout(30)
def test_a_mapper_plan_drives_chunk_partitions_each_with_its_own_checkpoints(run_job):
    step = {"id": "load", "partition": {"mapper": {"ref": f"{PARTS}.Mapper",
                                                   "properties": {"partitions": "3"}},
                                        **OBSERVERS},
            "chunk": {"reader": {"ref": "eapp_chunk.NumberReader",
                                 "properties": {"count": "#{partitionPlan['count']}"}},
                      "writer": {"ref": "eapp_chunk.FileWriter"}, "item-count": 2}}
    run = run_job(command([step]))
    assert run.status == "completed"
    assert run.messages("P ")[:2] == ["P begin", "P map_partitions"]
    metrics = run.ended["load"]["metrics"]
    assert metrics["read-count"] == 3 + 6 + 9 and metrics["write-count"] == 18
    points = run.of("checkpoint")
    finals = {p["partition"]: p for p in points if p["done"]}
    assert {n: (p["reader"], p["metrics"]["read-count"]) for n, p in finals.items()} == {
        0: (3, 3), 1: (6, 6), 2: (9, 9)}
    assert sorted(p["reader"] for p in points if p["partition"] == 2 and not p["done"]) == [
        2, 4, 6, 8, 9]
    data = [json.loads(c[len("P data "):]) for c in run.messages("P data")]
    # after each of its chunks and once more at its end
    assert sum(1 for d in data if d["partition"] == 0) == 2 + 1


@pytest.mark.timeout(30)
def test_a_failed_partition_fails_the_step_after_the_others_and_the_reducer_rolls_back(run_job):
    run = run_job(command([work_step(static_plan(3), seconds="0.2", fail_partition="1")]))
    assert run.ended["work"]["status"] == "failed"
    assert (run.status, run.exit_status) == ("failed", "RuntimeError: partition 1 broke")
    calls = run.messages("P ")
    assert sorted(c for c in calls if c.startswith("P status")) == [
        "P status COMPLETED DONE-0", "P status COMPLETED DONE-2", "P status FAILED FAILED"]
    assert calls[-2:] == ["P rollback", "P after_completion ROLLBACK"]
    assert sorted(p["partition"] for p in run.of("checkpoint") if p["done"]) == [0, 2]


@pytest.mark.timeout(30)
def test_a_restart_runs_only_the_partitions_that_were_not_done(run_job):
    step = work_step(static_plan(3), fail_partition="#{jobParameters['broken']}")
    first = run_job(command([step], parameters={"broken": "2"}))
    assert first.status == "failed"
    second = restart([first], parameters={"broken": ""})
    assert second.status == "completed"
    assert second.messages("partition ", step="work") == ["partition 2 working"]
    assert [p["partition"] for p in second.of("checkpoint")] == [2]


@pytest.mark.timeout(30)
def test_partition_exit_statuses_reach_the_step_through_the_analyzer_only(run_job):
    partition = {"mapper": {"ref": f"{PARTS}.DictMapper"},
                 "analyzer": {"ref": f"{PARTS}.SettingAnalyzer"}}
    run = run_job(command([work_step(partition)]))
    assert run.ended["work"]["exit-status"] == "DONE-0+DONE-1"
    assert run.status == "completed"


@pytest.mark.timeout(30)
def test_chunk_partitions_restart_from_their_own_checkpoints(run_job):
    step = {"id": "load", "partition": {"mapper": {"ref": f"{PARTS}.Mapper"}},
            "chunk": {"reader": {"ref": "eapp_chunk.NumberReader", "properties": {
                          "count": "#{partitionPlan['count']}",
                          "fail_at": "#{jobParameters['fail_at']}"}},
                      "writer": {"ref": "eapp_chunk.FileWriter"}, "item-count": 2}}
    first = run_job(command([step], parameters={"fail_at": "4"}))
    assert first.status == "failed"  # partitions 1 (6 items) and 2 (9 items) fail at item 4
    assert [p["partition"] for p in first.of("checkpoint") if p["done"]] == [0]
    second = restart([first], parameters={})
    assert second.status == "completed"
    assert second.messages("reader open") == ["reader open 2", "reader open 2"]
    done = {p["partition"]: p["reader"] for p in second.of("checkpoint") if p["done"]}
    assert done == {1: 6, 2: 9}
    assert second.ended["load"]["metrics"]["read-count"] == (6 - 2) + (9 - 2)
