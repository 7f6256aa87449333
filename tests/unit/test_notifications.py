"""Status notifications and time monitors end to end inside one bus: real SQLite files, the
real hook path (agent events through ``Bus.record_events``), the real webhook plugin posting to
a real HTTP server on loopback, and a second Bus on the same database for restarts."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import edn_format
import pytest
from edn_format import Keyword

from jsbus.bus import Bus
from jsbus.hookspecs import hookimpl
from jsbus.jsl.model import Ref, Step
from jsbus.model import (AgentInfo, AgentStatus, Application, BatchStatus, DeadlineState, Delivery,
                         DeliveryState, JobDefinition, MonitorAction, TimeMonitor)
from jsbus.notifications import DeliveryPump, backoff
from jsbus.wire import Event
from jsbus_plugins.notify_webhook import WebhookNotifier
from tests.webhook import WebhookReceiver, until

S = BatchStatus
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def bus_config(bus_config):
    """Time-monitor sweeps only when a test calls them (the housekeeper's first is in an hour)."""
    return bus_config.with_overrides({"time_monitor.interval": 3600.0})


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def notify_config(bus_config, receiver):
    return bus_config.with_overrides({"notifications.url": receiver.url,
                                      "notifications.backoff": 0.05,
                                      "notifications.interval": 0.1})


@pytest.fixture
def nbus(notify_config):
    instance = Bus(notify_config)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def job(nbus, app_dir):
    return _job(nbus, app_dir)


def _job(bus, app_dir):
    """Application ``shop``, job ``J`` and a (stored, never contacted) agent ``agent-a``."""
    bus.storage.save_application(Application("shop", classpath=(app_dir.as_uri(),)))
    bus.storage.save_job("shop", JobDefinition(id="J", elements=(
        Step("S", batchlet=Ref("unit_batch.Noop")),)))
    bus.storage.save_agent(AgentInfo(instance_id="agent-a", name="a", host="127.0.0.1",
                                     port=9, capacity=4, status=AgentStatus.READY,
                                     last_seen=datetime.now(timezone.utc)))
    return "shop", "J"


def run(bus, job, *statuses, exit_status="COMPLETED", started=None):
    """An execution of ``job`` taken by agent-a, which then reports ``statuses``."""
    storage = bus.storage
    execution = storage.create_execution(*job, {"day": "monday"}, datetime.now(timezone.utc))
    storage.claim_executions("agent-a", datetime.now(timezone.utc), 1)
    now = datetime.now(timezone.utc)
    events = [Event(seq=i, type="status", execution_id=execution.id,
                    time=(started if status is S.STARTED and started else now), status=status,
                    exit_status=exit_status if status.is_final else None)
              for i, status in enumerate(statuses)]
    bus.record_events("agent-a", events)
    return execution.id


def test_a_matching_transition_is_delivered_once_as_json(nbus, job, receiver):
    storage = nbus.storage
    storage.add_status_notification(*job, "on-start", S.STARTED, None)
    storage.add_status_notification(*job, "on-done", S.COMPLETED, "COMPLETED")
    storage.add_status_notification(*job, "on-fail", S.FAILED, None)
    execution = run(nbus, job, S.STARTING, S.STARTED, S.COMPLETED)
    nbus.record_events("agent-a", [Event(seq=9, type="status", execution_id=execution,
                                         time=datetime.now(timezone.utc),
                                         status=S.COMPLETED)])  # a repeat: no transition
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/notify/on-done", "/notify/on-start"]
    done = next(json.loads(r.body) for r in got if r.path.endswith("on-done"))
    assert done["job-name"] == "J" and done["execution-id"] == execution
    assert done["batch-status"] == "batch-status/completed"
    assert done["previous-batch-status"] == "batch-status/started"
    assert done["exit-status"] == "COMPLETED" and done["job-parameters"] == {"day": "monday"}
    assert got[0].content_type == "application/json"
    records = until(lambda: [d for d in storage.list_deliveries(*job)[0]
                             if d.state is DeliveryState.DELIVERED], what="2 delivered")
    assert len(storage.list_deliveries(*job)[0]) == 2
    nbus.plugins.notify("jsbus_execution_status_changed",
                        execution=storage.get_execution(execution), previous=S.STARTED)
    assert storage.list_deliveries(*job)[1] == 2, "a transition reported twice queues once"
    assert all(d.attempts == 1 for d in records)


def test_an_exit_status_notification_needs_the_exit_status(nbus, job, receiver):
    nbus.storage.add_status_notification(*job, "odd-exit", None, "PARTIAL")
    run(nbus, job, S.STARTING, S.STARTED, S.COMPLETED, exit_status="COMPLETED")
    second = run(nbus, job, S.STARTING, S.STARTED, S.COMPLETED, exit_status="PARTIAL")
    got = receiver.wait_for(1)
    assert [json.loads(r.body)["execution-id"] for r in got] == [second]


def test_edn_is_the_original_notificators_protocol(bus_config, receiver, app_dir):
    config = bus_config.with_overrides({"notifications.url": receiver.url,
                                        "notifications.format": "edn"})
    bus = Bus(config)
    bus.start()
    try:
        shop = _job(bus, app_dir)
        bus.storage.add_status_notification(*shop, "failed", S.FAILED, None)
        run(bus, shop, S.STARTING, S.STARTED, S.FAILED, exit_status="ValueError")
        (got,) = receiver.wait_for(1)
    finally:
        bus.stop()
    assert got.path == "/notify/failed" and got.content_type == "application/edn"
    body = edn_format.loads(got.body.decode())
    assert body[Keyword("job-name")] == "J"
    assert body[Keyword("batch-status")] == Keyword("batch-status/failed")
    assert body[Keyword("exit-status")] == "ValueError"
    assert isinstance(body[Keyword("start-time")], datetime)


def test_retries_back_off_and_give_up_recording_each_attempt(nbus, job):
    """A pump driven by hand with its own clock: the bus's pump runs too, so this one uses a
    receiver of its own and a delivery the bus's pump cannot see yet (due in the future)."""
    storage = nbus.storage
    with WebhookReceiver([503, 503, 200]) as flaky, WebhookReceiver([400]) as refusing:
        t0 = datetime.now(timezone.utc) + timedelta(days=1)
        clock = [t0]
        config = nbus.config.with_overrides({"notifications.url": flaky.url,
                                             "notifications.backoff": 2.0,
                                             "notifications.max_attempts": 3})
        pump = DeliveryPump(config, storage, WebhookNotifier(config),
                            clock=lambda: clock[0])
        storage.enqueue_deliveries([Delivery(id=None, key="k1", type="late", event="alert",
                                             app="shop", job="J", execution_id=None,
                                             payload={"n": 1})], t0)
        assert pump.pump() == 1
        (record,), _ = storage.list_deliveries(*job)
        assert record.state is DeliveryState.PENDING and record.attempts == 1
        assert "HTTP 503" in record.last_error
        assert record.next_attempt_at == t0 + backoff(config, 1) == t0 + timedelta(seconds=2)
        assert pump.pump() == 0, "not due before its backoff"
        clock[0] = t0 + timedelta(seconds=2)
        assert pump.pump() == 1
        clock[0] = t0 + timedelta(seconds=6)
        assert pump.pump() == 1
        (record,), _ = storage.list_deliveries(*job)
        assert (record.state, record.attempts, record.delivered_at) == (
            DeliveryState.DELIVERED, 3, clock[0])
        assert len(flaky.wait_for(3)) == 3

        refused = config.with_overrides({"notifications.url": refusing.url})
        pump = DeliveryPump(refused, storage, WebhookNotifier(refused),
                            clock=lambda: clock[0])
        storage.enqueue_deliveries([Delivery(id=None, key="k2", type="late", event="alert",
                                             app="shop", job="J", execution_id=None,
                                             payload={})], clock[0])
        assert pump.pump() == 1
        record = storage.list_deliveries(*job)[0][0]
        assert (record.state, record.attempts) == (DeliveryState.FAILED, 1), "400: permanent"
        assert pump.pump() == 0


def test_without_a_url_deliveries_fail_with_the_reason(bus_config, app_dir):
    bus = Bus(bus_config)
    bus.start()
    try:
        shop = _job(bus, app_dir)
        bus.storage.add_status_notification(*shop, "mail", S.STARTED, None)
        run(bus, shop, S.STARTING, S.STARTED)
        record = until(lambda: [d for d in bus.storage.list_deliveries(*shop)[0]
                                if d.state is DeliveryState.FAILED], what="failed")[0]
    finally:
        bus.stop()
    assert "notifications.url is not set" in record.last_error


def test_queued_deliveries_survive_a_bus_restart(bus_config, receiver, app_dir):
    unreachable = bus_config.with_overrides({"notifications.url": "http://127.0.0.1:9/x",
                                             "notifications.backoff": 600.0})
    first = Bus(unreachable)
    first.start()
    try:
        shop = _job(first, app_dir)
        first.storage.add_status_notification(*shop, "mail", S.STARTED, None)
        run(first, shop, S.STARTING, S.STARTED)
        until(lambda: first.storage.list_deliveries(*shop)[0][0].attempts >= 1,
              what="a first, failed attempt")
    finally:
        first.stop()
    # The record says when to try again; a new bus (another URL now) keeps that schedule.
    second = Bus(bus_config.with_overrides({"notifications.url": receiver.url}))
    second.start()
    try:
        (record,), _ = second.storage.list_deliveries(*shop)
        assert record.state is DeliveryState.PENDING and "ConnectError" in record.last_error
        second.storage.record_attempt(record.id, state=DeliveryState.PENDING, attempts=1,
                                      now=datetime.now(timezone.utc),
                                      next_attempt_at=datetime.now(timezone.utc))
        second.notifications.wake()
        (got,) = receiver.wait_for(1)
    finally:
        second.stop()
    assert got.path == "/notify/mail"


# --- time monitors -------------------------------------------------------------------------

def test_an_alert_fires_once_after_the_duration_and_not_for_executions_that_ended(
        nbus, job, receiver):
    storage = nbus.storage
    storage.set_time_monitor(*job, TimeMonitor(5, MonitorAction.ALERT, "late"))
    long_ago = datetime.now(timezone.utc) - timedelta(minutes=6)
    late = run(nbus, job, S.STARTING, S.STARTED, started=long_ago)
    in_time = run(nbus, job, S.STARTING, S.STARTED, S.COMPLETED, started=long_ago)
    fresh = run(nbus, job, S.STARTING, S.STARTED)
    assert nbus.timekeeper.sweep() == 1
    assert nbus.timekeeper.sweep() == 0, "once"
    (got,) = receiver.wait_for(1)
    body = json.loads(got.body)
    assert got.path == "/notify/late" and body["execution-id"] == late
    assert body["duration"] == 5 and body["action"] == "alert"
    assert body["notification/event"] == "time-monitor"
    assert storage.get_deadline(late).state is DeadlineState.FIRED
    assert storage.get_deadline(in_time) is None, "ended before any sweep saw it run"
    assert storage.get_deadline(fresh).state is DeadlineState.PENDING
    assert storage.get_execution(late).batch_status is S.STARTED, "alert only alerts"
    nbus.record_events("agent-a", [Event(seq=5, type="status", execution_id=fresh,
                                         time=datetime.now(timezone.utc),
                                         status=S.COMPLETED)])
    nbus.timekeeper.sweep()
    assert storage.get_deadline(fresh).state is DeadlineState.CANCELLED


def test_stop_and_abandon_act_on_the_execution(nbus, job):
    storage = nbus.storage
    storage.set_time_monitor(*job, TimeMonitor(1, MonitorAction.STOP))
    long_ago = datetime.now(timezone.utc) - timedelta(minutes=2)
    stopped = run(nbus, job, S.STARTING, S.STARTED, started=long_ago)
    storage.arm_deadlines()
    storage.set_time_monitor(*job, TimeMonitor(1, MonitorAction.ABANDON))
    nbus.timekeeper.sweep()
    assert storage.get_execution(stopped).batch_status is S.STOPPING
    assert storage.get_deadline(stopped).monitor.action is MonitorAction.STOP, \
        "an execution keeps the monitor it was armed with"
    abandoned = run(nbus, job, S.STARTING, S.STARTED, started=long_ago)
    nbus.timekeeper.sweep()
    assert storage.get_execution(abandoned).batch_status is S.STOPPING
    assert storage.get_deadline(abandoned).state is DeadlineState.ABANDONING
    nbus.record_events("agent-a", [Event(seq=7, type="status", execution_id=abandoned,
                                         time=datetime.now(timezone.utc), status=S.STOPPED,
                                         exit_status="STOPPED")])
    nbus.timekeeper.sweep()
    assert storage.get_execution(abandoned).batch_status is S.ABANDONED
    assert storage.get_deadline(abandoned).state is DeadlineState.FIRED


def test_a_deadline_survives_a_bus_restart(bus_config, receiver, app_dir):
    """Armed by one bus 55 s into a one-minute monitor; fired by the next one, on time."""
    config = bus_config.with_overrides({"notifications.url": receiver.url})
    first = Bus(config)
    first.start()
    try:
        shop = _job(first, app_dir)
        first.storage.set_time_monitor(*shop, TimeMonitor(1, MonitorAction.ALERT, "late"))
        execution = run(first, shop, S.STARTING, S.STARTED,
                        started=datetime.now(timezone.utc) - timedelta(seconds=55))
        assert first.timekeeper.sweep() == 0
        due = first.storage.get_deadline(execution).due_at
    finally:
        first.stop()
    second = Bus(config)
    second.start()
    try:
        deadline = second.storage.get_deadline(execution)
        assert deadline.state is DeadlineState.PENDING and deadline.due_at == due
        until(second.timekeeper.sweep, timeout=20, what="the deadline to fire")
        (got,) = receiver.wait_for(1)
        fired = second.storage.get_deadline(execution).fired_at
    finally:
        second.stop()
    assert json.loads(got.body)["execution-id"] == execution
    assert due <= fired < due + timedelta(seconds=5)


def test_status_events_of_one_batch_move_the_row_once_and_notify_each(nbus, job):
    """starting, started and completed in one batch: one guarded move (``via``), the same
    three transitions as one by one; a chain the guard refuses is applied one by one."""
    seen = []
    nbus.plugins.pm.register(type("Spy", (), {"jsbus_execution_status_changed": hookimpl(
        lambda self, execution, previous: seen.append(
            (previous, execution.batch_status, execution.end_time is not None)))})())
    started = datetime.now(timezone.utc) - timedelta(seconds=2)
    moved = run(nbus, job, S.STARTING, S.STARTED, S.COMPLETED, started=started)
    after = nbus.storage.get_execution(moved)
    assert after.batch_status is S.COMPLETED and after.exit_status == "COMPLETED"
    assert after.start_time == started and after.end_time is not None
    assert seen == [(S.QUEUED, S.STARTING, False), (S.STARTING, S.STARTED, False),
                    (S.STARTED, S.COMPLETED, True)]
    seen.clear()
    stopping = nbus.storage.create_execution(*job, {}, datetime.now(timezone.utc))
    nbus.storage.claim_executions("agent-a", datetime.now(timezone.utc), 1)
    nbus.storage.transition_execution(stopping.id, S.STOPPING)
    now = datetime.now(timezone.utc)
    nbus.record_events("agent-a", [
        Event(seq=20 + i, type="execution", execution_id=stopping.id, time=now, status=status,
              exit_status="STOPPED" if status.is_final else None)
        for i, status in enumerate((S.STARTING, S.STARTED, S.STOPPED))])
    assert nbus.storage.get_execution(stopping.id).batch_status is S.STOPPED
    assert seen == [(S.STOPPING, S.STOPPED, True)]
