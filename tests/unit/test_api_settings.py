"""Job settings (exclusive, status notifications, time monitor), the notification record and
the alert command through the REST API: falcon's TestClient over a real Bus on a real SQLite
file; JSON, and EDN shaped as the original console sends it."""
from __future__ import annotations

import edn_format
import pytest
from edn_format import Keyword

from jsbus.model import AgentInfo, BatchStatus, DeliveryState

pytestmark = pytest.mark.timeout(60)
SETTINGS = "/shop/job/JOB-1/settings"
NOTIFY = f"{SETTINGS}/status-notification"
MONITOR = f"{SETTINGS}/time-monitor"
EDN = {"Content-Type": "application/edn", "Accept": "application/edn"}


def messages(response) -> str:
    assert set(response.json) == {"messages"}, response.json
    return " | ".join(response.json["messages"])


def test_settings_start_empty_and_show_in_the_job_and_the_list(client, deployed):
    response = client.simulate_get(SETTINGS)
    assert response.status_code == 200
    assert response.json == {"job/exclusive?": False, "job/time-monitor": None,
                             "job/status-notifications": []}
    client.simulate_put(MONITOR, json={"time-monitor/duration": 30,
                                       "time-monitor/action": "action/stop"})
    added = client.simulate_put(NOTIFY, json={"status-notification/type": "mail",
                                              "status-notification/batch-status": "failed"})
    detail = client.simulate_get("/shop/job/JOB-1").json
    assert detail["job/time-monitor"]["time-monitor/action"] == "action/stop"
    assert [n["db/id"] for n in detail["job/status-notifications"]] == [added.json["db/id"]]
    (item,) = client.simulate_get("/shop/jobs", params={"with": "settings"}).json["results"]
    assert item["job/time-monitor"]["time-monitor/duration"] == 30
    assert item["job/status-notifications"][0]["status-notification/batch-status"] == \
        "batch-status/failed"


def test_exclusive_on_and_off(client, deployed):
    assert client.simulate_put(f"{SETTINGS}/exclusive").json["job/exclusive?"] is True
    assert client.simulate_get(SETTINGS).json["job/exclusive?"] is True
    assert client.simulate_delete(f"{SETTINGS}/exclusive").json["job/exclusive?"] is False


def test_status_notifications_are_added_and_removed_by_id(client, deployed):
    first = client.simulate_put(NOTIFY, json={
        "status-notification/type": "ops-mail",
        "status-notification/batch-status": "batch-status/failed"})
    assert first.status_code == 201
    assert first.json["status-notification/batch-status"] == "batch-status/failed"
    second = client.simulate_put(NOTIFY, json={"status-notification/type": "odd",
                                               "status-notification/exit-status": "PARTIAL"})
    listed = client.simulate_get(SETTINGS).json["job/status-notifications"]
    assert [n["db/id"] for n in listed] == [first.json["db/id"], second.json["db/id"]]
    removed = client.simulate_put(NOTIFY, json={"db/id": first.json["db/id"]})
    assert removed.status_code == 200
    assert [n["status-notification/type"] for n in
            removed.json["job/status-notifications"]] == ["odd"]
    again = client.simulate_put(NOTIFY, json={"db/id": first.json["db/id"]})
    assert again.status_code == 404
    assert f"status notification {first.json['db/id']} not found" in messages(again)


def test_the_original_consoles_edn_requests(client, deployed):
    added = client.simulate_put(NOTIFY, headers=EDN, body=(
        '{:status-notification/type "ops" '
        ':status-notification/batch-status {:db/ident :batch-status/completed}}'))
    assert added.status_code == 201
    assert edn_format.loads(added.text)[Keyword("db/id")] >= 1
    monitor = client.simulate_put(MONITOR, headers=EDN, body=(
        '{:time-monitor/duration 10 :time-monitor/action :action/alert '
        ':time-monitor/notification-type "late"}'))
    assert monitor.status_code == 200
    settings = edn_format.loads(client.simulate_get(SETTINGS, headers=EDN).text)
    assert settings[Keyword("job/time-monitor")][Keyword("time-monitor/action")] == \
        Keyword("action/alert")
    (notification,) = settings[Keyword("job/status-notifications")]
    assert notification[Keyword("status-notification/batch-status")] == \
        Keyword("batch-status/completed")
    removed = client.simulate_put(NOTIFY, headers=EDN,
                                  body=f"{{:db/id {notification[Keyword('db/id')]}}}")
    assert removed.status_code == 200
    assert client.simulate_delete(MONITOR, headers=EDN).status_code == 200
    assert client.simulate_get(SETTINGS).json["job/time-monitor"] is None


@pytest.mark.parametrize("body, expected", [
    ({}, "status-notification/type must be present"),
    ({"status-notification/type": "x"}, "status-notification/batch-status or "
                                        "status-notification/exit-status must be present"),
    ({"status-notification/type": "x", "status-notification/batch-status": "done"},
     "status-notification/batch-status must be one of batch-status/undispatched"),
    ({"status-notification/type": "a/b", "status-notification/batch-status": "failed"},
     "status-notification/type must be a string of at most 200 characters without '/'"),
    ({"status-notification/type": 7, "status-notification/exit-status": "X"},
     "status-notification/type must be a string"),
    ({"status-notification/type": "x", "status-notification/exit-status": ""},
     "status-notification/exit-status must be a non-empty string"),
    ({"db/id": "one"}, "db/id must be the id of one of the job's status notifications"),
])
def test_bad_status_notifications_get_400_and_change_nothing(client, deployed, body, expected):
    response = client.simulate_put(NOTIFY, json=body)
    assert response.status_code == 400
    assert expected in messages(response)
    assert client.simulate_get(SETTINGS).json["job/status-notifications"] == []


@pytest.mark.parametrize("body, expected", [
    ({"time-monitor/action": "action/stop"}, "time-monitor/duration must be present"),
    ({"time-monitor/duration": 0, "time-monitor/action": "stop"},
     "time-monitor/duration must be a whole number of minutes from 1 to 525600"),
    ({"time-monitor/duration": 1.5, "time-monitor/action": "stop"},
     "time-monitor/duration must be a whole number"),
    ({"time-monitor/duration": True, "time-monitor/action": "stop"},
     "time-monitor/duration must be a whole number"),
    ({"time-monitor/duration": 5}, "time-monitor/action must be present"),
    ({"time-monitor/duration": 5, "time-monitor/action": "action/kill"},
     "time-monitor/action must be one of action/alert, action/stop, action/abandon"),
    ({"time-monitor/duration": 5, "time-monitor/action": "action/alert"},
     "time-monitor/notification-type must be present"),
])
def test_bad_time_monitors_get_400_and_change_nothing(client, deployed, body, expected):
    response = client.simulate_put(MONITOR, json=body)
    assert response.status_code == 400
    assert expected in messages(response)
    assert client.simulate_get(SETTINGS).json["job/time-monitor"] is None


def test_bodies_that_are_not_objects_are_400(client, deployed):
    assert client.simulate_put(MONITOR, json=[1]).status_code == 400
    response = client.simulate_put(NOTIFY, body="{", headers={"Content-Type":
                                                              "application/json"})
    assert response.status_code == 400 and messages(response)
    assert client.simulate_put(NOTIFY, body="x", headers={
        "Content-Type": "text/plain"}).status_code == 415


@pytest.mark.parametrize("method, path", [
    ("GET", "/shop/job/NOPE/settings"), ("PUT", "/shop/job/NOPE/settings/exclusive"),
    ("PUT", "/shop/job/NOPE/settings/time-monitor"),
    ("DELETE", "/shop/job/NOPE/settings/time-monitor"),
    ("PUT", "/shop/job/NOPE/settings/status-notification"),
    ("GET", "/nope/job/JOB-1/settings"), ("PUT", "/shop/job/JOB-1/settings/colour"),
    ("GET", "/shop/job/NOPE/notifications"),
    ("PUT", "/shop/job/JOB-1/execution/999/alert"),
])
def test_unknown_jobs_settings_and_executions_are_404(client, deployed, method, path):
    body = {"time-monitor/duration": 5, "time-monitor/action": "stop"}
    response = client.simulate_request(method, path, json=body)
    assert response.status_code == 404, response.json
    assert messages(response)


def test_status_notification_cannot_be_deleted_by_path(client, deployed):
    response = client.simulate_delete(NOTIFY)
    assert response.status_code == 405
    assert "PUT {\"db/id\": n}" in messages(response)


def test_alert_queues_the_monitor_notification_and_the_record_shows_it(client, bus, deployed):
    execution = client.simulate_post("/shop/job/JOB-1/executions").json
    number = execution["job-execution/execution-id"]
    alert = f"/shop/job/JOB-1/execution/{number}/alert"
    refused = client.simulate_put(alert)
    assert refused.status_code == 409
    assert "has no time monitor with a notification type" in messages(refused)
    client.simulate_put(MONITOR, json={"time-monitor/duration": 5,
                                       "time-monitor/action": "alert",
                                       "time-monitor/notification-type": "late"})
    assert client.simulate_put(alert).status_code == 202
    assert client.simulate_put(alert).status_code == 202, "each alert is sent"
    record = client.simulate_get("/shop/job/JOB-1/notifications",
                                 params={"execution": number})
    assert record.status_code == 200 and record.json["hits"] == 2
    first = record.json["results"][0]
    assert first["delivery/type"] == "late" and first["delivery/event"] == "alert"
    assert first["delivery/payload"]["duration"] == 5
    assert client.simulate_get("/shop/job/JOB-1/notifications",
                               params={"execution": number + 1}).json["hits"] == 0
    assert client.simulate_get("/shop/job/JOB-1/notifications",
                               params={"execution": "x"}).status_code == 400


def test_transitions_show_in_the_record_with_their_outcome(client, bus, deployed):
    """No URL is configured here: each delivery is recorded as failed, with the reason."""
    client.simulate_put(NOTIFY, json={"status-notification/type": "mail",
                                      "status-notification/batch-status": "started"})
    bus.storage.save_agent(AgentInfo(instance_id="agent-a", name="a", host="127.0.0.1",
                                     port=9, capacity=1))
    created = client.simulate_post("/shop/job/JOB-1/executions").json
    number = created["job-execution/execution-id"]
    from datetime import datetime, timezone
    from jsbus.wire import Event
    now = datetime.now(timezone.utc)
    if bus.storage.claim_executions("agent-a", now, 1):
        bus.record_events("agent-a", [
            Event(seq=1, type="status", execution_id=number, time=now, status=s)
            for s in (BatchStatus.STARTING, BatchStatus.STARTED)])
    from tests.webhook import until
    record = until(lambda: [d for d in bus.storage.list_deliveries("shop", "JOB-1")[0]
                            if d.state is DeliveryState.FAILED], what="a recorded failure")
    assert record[0].last_error.startswith("notifications.url is not set")
    shown = client.simulate_get("/shop/job/JOB-1/notifications").json["results"][0]
    assert shown["delivery/state"] == "failed" and shown["delivery/attempts"] == 1
    assert shown["delivery/next-attempt-at"] is None


def test_settings_travel_with_export_and_import(client, deployed):
    client.simulate_put(MONITOR, json={"time-monitor/duration": 15,
                                       "time-monitor/action": "action/abandon"})
    client.simulate_put(NOTIFY, json={"status-notification/type": "mail",
                                      "status-notification/batch-status": "failed",
                                      "status-notification/exit-status": "BAD"})
    exported = client.simulate_get("/shop/jobs/download").json
    (item,) = exported
    assert item["job/time-monitor"]["time-monitor/duration"] == 15
    assert item["job/status-notifications"] == [{
        "status-notification/type": "mail",
        "status-notification/batch-status": "batch-status/failed",
        "status-notification/exit-status": "BAD"}]
    client.simulate_delete(MONITOR)
    client.simulate_put(NOTIFY, json={"status-notification/type": "extra",
                                      "status-notification/batch-status": "started"})
    assert client.simulate_post("/shop/jobs", json=exported).status_code == 200
    settings = client.simulate_get(SETTINGS).json
    assert settings["job/time-monitor"]["time-monitor/action"] == "action/abandon"
    assert [n["status-notification/type"] for n in settings["job/status-notifications"]] == \
        ["mail"], "an import replaces the notifications"
    bad = dict(item, **{"job/time-monitor": {"time-monitor/duration": -1,
                                             "time-monitor/action": "stop"}})
    response = client.simulate_post("/shop/jobs", json=[bad])
    assert response.status_code == 400
    assert "[0]: time-monitor/duration must be a whole number" in messages(response)
    assert client.simulate_get(SETTINGS).json == settings, "all or nothing"
