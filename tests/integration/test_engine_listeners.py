"""Listeners in the real worker: the specification's call order (runtime 11.1-11.7) and what
an exception from a listener does (JSL 8.1.2, 8.2.7)."""
from __future__ import annotations

import pytest

from tests.integration.engine_app.harness import command, step


def recorder(name: str, **props: str) -> dict:
    return {"ref": "eapp_listeners.Recorder", "properties": {"name": name, **props}}


@pytest.mark.timeout(30)
def test_job_and_step_listeners_wrap_a_batchlet_step(run_job):
    run = run_job(command([step("A", "eapp_batchlets.Exit", listeners=[recorder("S")])],
                          listeners=[recorder("J")]))
    assert run.messages("J ") + run.messages("S ") == [
        "J before_job", "J after_job", "S before_step", "S after_step"]
    order = [m for m in run.messages() if m[:2] in ("J ", "S ")]
    assert order == ["J before_job", "S before_step", "S after_step", "J after_job"]


@pytest.mark.timeout(30)
def test_chunk_listeners_are_called_in_the_specified_order(run_job):
    load = {"id": "load", "listeners": [recorder("S")], "chunk": {
        "reader": {"ref": "eapp_chunk.NumberReader", "properties": {"count": "3"}},
        "processor": {"ref": "eapp_chunk.Processor"},
        "writer": {"ref": "eapp_chunk.FileWriter"}, "item-count": 2}}
    run = run_job(command([load]))

    def item(n):
        return ["S before_read", f"S after_read {n}", f"S before_process {n}",
                f"S after_process {n} {n}"]
    assert run.messages("S ") == [
        "S before_step",
        "S before_chunk", *item(1), *item(2), "S before_write [1, 2]", "S after_write [1, 2]",
        "S after_chunk",
        "S before_chunk", *item(3), "S before_read", "S before_write [3]", "S after_write [3]",
        "S after_chunk",
        "S after_step"]


@pytest.mark.timeout(30)
def test_a_step_listener_that_raises_in_before_step_fails_the_step_before_it_runs(run_job):
    run = run_job(command([step("A", "eapp_batchlets.WaitForStop",
                                listeners=[recorder("S", fail_in="before_step")])]))
    assert run.messages("waiting") == []
    assert run.messages("S ") == ["S before_step", "S after_step"]
    assert (run.ended["A"]["status"], run.ended["A"]["exit-status"]) == (
        "failed", "RuntimeError: before_step failed")
    assert run.status == "failed"


@pytest.mark.timeout(30)
def test_a_step_listener_that_raises_in_after_step_fails_a_step_that_went_well(run_job):
    run = run_job(command([step("A", "eapp_batchlets.Exit",
                                listeners=[recorder("S", fail_in="after_step")])]))
    assert run.ended["A"]["status"] == "failed"
    assert (run.status, run.exit_status) == ("failed", "RuntimeError: after_step failed")


@pytest.mark.timeout(30)
def test_after_step_sees_the_batch_status_and_may_set_the_exit_status(run_job):
    run = run_job(command([step("A", "eapp_batchlets.Fail", listeners=[
        {"ref": "eapp_listeners.StatusAfterStep", "properties": {"exit_status": "HANDLED"}}])]))
    assert run.messages("after_step sees") == ["after_step sees FAILED"]
    assert (run.ended["A"]["status"], run.ended["A"]["exit-status"]) == ("failed", "HANDLED")


@pytest.mark.timeout(30)
def test_a_job_listener_that_raises_fails_the_job(run_job):
    run = run_job(command([step("A", "eapp_batchlets.Exit")],
                          listeners=[recorder("J", fail_in="before_job")]))
    assert run.started == []
    assert run.messages("J ") == ["J before_job", "J after_job"]
    assert (run.status, run.exit_status) == ("failed", "RuntimeError: before_job failed")
    run = run_job(command([step("A", "eapp_batchlets.Exit")],
                          listeners=[recorder("J", fail_in="after_job")]))
    assert run.ended["A"]["status"] == "completed"
    assert (run.status, run.exit_status) == ("failed", "RuntimeError: after_job failed")
