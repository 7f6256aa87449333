"""The job list (query, with, sort, paging), export and import, history purge and conversion,
through falcon's TestClient over a real Bus on a real SQLite file."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from jsbus.model import BatchStatus, Checkpoint, LogRecord

pytestmark = pytest.mark.timeout(60)
S = BatchStatus
DAY = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def messages(response) -> str:
    assert set(response.json) == {"messages"}, response.json
    return " | ".join(response.json["messages"])


def document(name: str) -> dict:
    return {"id": name, "steps": [{"id": "S1", "batchlet": {"ref": "unit_batch.Noop"}}]}


def run(bus, app: str, job: str, status: BatchStatus, started: datetime, seconds: float,
        exit_status: str) -> int:
    """An execution that ran on a (pretend) agent from ``started`` for ``seconds``."""
    storage = bus.storage
    execution = storage.create_execution(app, job, {}, started)
    storage.claim_executions("agent-x", started, 1)
    storage.transition_execution(execution.id, S.STARTING)
    storage.transition_execution(execution.id, S.STARTED, start_time=started)
    storage.transition_execution(execution.id, status, exit_status=exit_status,
                                 end_time=started + timedelta(seconds=seconds))
    return execution.id


@pytest.fixture
def shop(client, bus, app_dir):
    assert client.simulate_post("/apps", json={"name": "shop", "classpath": [
        app_dir.as_uri()]}).status_code == 201
    for name in ("daily-load", "daily-report", "hourly-sync", "weekly-purge", "never-ran"):
        assert client.simulate_post("/shop/jobs", json=document(name)).status_code == 201
    run(bus, "shop", "daily-load", S.COMPLETED, DAY, 30, "COMPLETED")
    run(bus, "shop", "daily-report", S.FAILED, DAY + timedelta(days=1), 5, "ValueError: bad")
    run(bus, "shop", "hourly-sync", S.COMPLETED, DAY - timedelta(days=3), 300, "SYNCED")
    run(bus, "shop", "weekly-purge", S.COMPLETED, DAY + timedelta(days=2), 1, "COMPLETED")
    return "shop"


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [job["job/name"] for job in response.json["results"]]


@pytest.mark.parametrize("q, expected", [
    ("daily", ["daily-load", "daily-report"]),
    ("load sync", ["daily-load", "hourly-sync"]),
    ("since:2026-03-11", ["daily-report", "weekly-purge"]),
    ("until:2026-03-10", ["daily-load", "hourly-sync"]),
    ("since:2026-03-10 until:2026-03-11", ["daily-load", "daily-report"]),
    ("exit-status:valueerror", ["daily-report"]),
    ("batch-status:completed", ["daily-load", "hourly-sync", "weekly-purge"]),
    ("daily batch-status:failed", ["daily-report"]),
    ("nothing-like-it", []),
])
def test_the_query_language(client, shop, q, expected):
    response = client.simulate_get(f"/{shop}/jobs", params={"q": q, "sort-by": "name:asc"})
    assert names(response) == expected
    assert response.json["hits"] == len(expected)


@pytest.mark.parametrize("params, expected", [
    ({"q": "since:yesterday"}, "'since:yesterday' needs a date as YYYY-MM-DD"),
    ({"q": "until:"}, "'until:' needs a value"),
    ({"q": "batch-status:sleeping"}, "the batch status must be one of"),
    ({"sort-by": "size:asc"}, "sort-by: 'size:asc' must be key:asc or key:desc"),
    ({"sort-by": "name:up"}, "sort-by: 'name:up'"),
    ({"with": "execution,everything"}, "with: unknown part(s) everything"),
    ({"limit": "0"}, "limit"),
    ({"offset": "-1"}, "offset"),
])
def test_bad_list_parameters_get_400_naming_them(client, shop, params, expected):
    response = client.simulate_get(f"/{shop}/jobs", params=params)
    assert response.status_code == 400
    assert expected in messages(response)


def test_sorting_on_several_keys_and_paging_from_offset_0(client, shop):
    by_duration = client.simulate_get(f"/{shop}/jobs", params={
        "sort-by": "last-execution-duration:desc"})
    assert names(by_duration) == ["hourly-sync", "daily-load", "daily-report", "weekly-purge",
                                  "never-ran"]  # no execution: last
    by_status_then_name = client.simulate_get(f"/{shop}/jobs", params={
        "sort-by": "last-execution-status:asc,name:desc"})
    assert names(by_status_then_name) == ["weekly-purge", "hourly-sync", "daily-load",
                                          "daily-report", "never-ran"]
    started = client.simulate_get(f"/{shop}/jobs", params={
        "sort-by": "last-execution-started:desc", "limit": "2", "offset": "1"})
    assert names(started) == ["daily-report", "daily-load"]
    assert (started.json["hits"], started.json["limit"], started.json["offset"]) == (5, 2, 1)


def test_with_selects_the_parts_of_each_job(client, shop):
    plain = client.simulate_get(f"/{shop}/jobs", params={"q": "daily-load"}).json["results"][0]
    assert plain["job/latest-execution"]["job-execution/exit-status"] == "COMPLETED"
    assert "job/document" not in plain and "job/exclusive?" not in plain
    full = client.simulate_get(f"/{shop}/jobs", params={
        "q": "daily-load", "with": "settings,notation,schedule"}).json["results"][0]
    assert full["job/exclusive?"] is False and full["job/document"]["id"] == "daily-load"
    assert full["job/schedule"] is None and "job/latest-execution" not in full


def test_export_and_import_round_trip_all_or_nothing(client, shop):
    client.simulate_put(f"/{shop}/job/daily-load/settings/exclusive")
    assert client.simulate_post(f"/{shop}/job/daily-load/schedule", json={
        "schedule/cron-notation": "0 0 6 ? * MON-FRI",
        "schedule/time-zone": "Europe/Berlin"}).status_code == 201
    client.simulate_put(f"/{shop}/job/daily-load/schedule/pause")
    download = client.simulate_get(f"/{shop}/jobs/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="shop-jobs.json"'
    exported = download.json
    assert [job["job/name"] for job in exported] == sorted(job["job/name"] for job in exported)
    load = next(job for job in exported if job["job/name"] == "daily-load")
    assert load["job/exclusive?"] is True
    assert load["job/schedule"]["schedule/active?"] is False
    assert client.simulate_post("/apps", json={"name": "copy", "classpath": []}).status_code \
        == 201
    imported = client.simulate_post("/copy/jobs", json=exported)
    assert imported.status_code == 201, imported.json
    assert sorted(imported.json["created"]) == sorted(job["job/name"] for job in exported)
    again = client.simulate_get("/copy/jobs/download").json
    assert again == exported
    assert client.simulate_post("/copy/jobs", json=exported).json["replaced"] \
        == imported.json["created"]
    bad = [document("fine-one"), {"id": "bad name!", "steps": []},
           {"job/document": document("x"), "job/schedule": {"schedule/cron-notation": "nope"}}]
    refused = client.simulate_post("/copy/jobs", json=bad)
    assert refused.status_code == 400
    text = messages(refused)
    assert "[1]" in text and "[2]" in text
    assert client.simulate_get("/copy/job/fine-one").status_code == 404, "nothing imported"
    assert messages(client.simulate_post("/copy/jobs", json=[document("a"), document("a")])) \
        == "jobs named more than once: a"
    assert client.simulate_post("/nowhere/jobs", json=[document("a")]).status_code == 404


def test_purge_deletes_ended_history_and_keeps_running_instances(client, bus, shop):
    storage = bus.storage
    done = run(bus, shop, "daily-load", S.FAILED, DAY, 1, "boom")
    storage.append_logs([LogRecord(execution_id=done, time=DAY, level="INFO", message="x")])
    storage.save_checkpoint(Checkpoint(instance_id=done, step_name="S1", reader=5,
                                       execution_id=done, time=DAY))
    active = storage.create_execution(shop, "daily-load", {}, DAY)
    purged = client.simulate_delete(f"/{shop}/job/daily-load/executions")
    assert purged.status_code == 204
    assert (purged.headers["x-deleted-executions"], purged.headers["x-kept-executions"]) == (
        "2", "1")
    left = client.simulate_get(f"/{shop}/job/daily-load/executions").json["results"]
    assert [e["job-execution/execution-id"] for e in left] == [active.id]
    count = storage.db.execute_sql  # the rows themselves: nothing orphaned
    assert count("SELECT COUNT(*) FROM checkpoint").fetchone()[0] == 0
    assert count(f"SELECT COUNT(*) FROM execution_log WHERE execution_id = {storage.db.param}",
                 (done,)).fetchone()[0] == 0
    assert client.simulate_delete(f"/{shop}/job/missing/executions").status_code == 404


def test_convert_between_json_edn_and_xml(client):
    xml = client.simulate_post("/jobs/convert", json=document("conv"),
                               headers={"accept": "application/xml"})
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
    assert b'<job' in xml.content and b'id="conv"' in xml.content
    edn = client.simulate_post("/jobs/convert", body=xml.content, headers={
        "content-type": "application/xml", "accept": "application/edn"})
    assert edn.status_code == 200 and b":id" in edn.content
    back = client.simulate_post("/jobs/convert", body=edn.content, headers={
        "content-type": "application/edn"})
    assert back.status_code == 200 and back.json["id"] == "conv"
    bad = client.simulate_post("/jobs/convert", json={"id": "x", "steps": []})
    assert bad.status_code == 400 and "steps" in messages(bad)
    assert client.simulate_post("/jobs/convert", body="x", headers={
        "content-type": "text/plain"}).status_code == 415
    assert client.simulate_post("/jobs/convert", json=document("c"), headers={
        "accept": "image/png"}).status_code == 406
    assert json.loads(back.content)["steps"][0]["id"] == "S1"


def test_put_of_a_job_keeps_what_its_body_does_not_carry(client, shop):
    client.simulate_put(f"/{shop}/job/daily-load/settings/exclusive")
    assert client.simulate_post(f"/{shop}/job/daily-load/schedule", json={
        "schedule/cron-notation": "0 0 6 * * ?"}).status_code == 201
    replaced = document("daily-load")
    replaced["steps"].append({"id": "S2", "batchlet": {"ref": "unit_batch.Noop"}})
    updated = client.simulate_put(f"/{shop}/job/daily-load", json=replaced)
    assert updated.status_code == 200, updated.json
    assert updated.json["job/steps"] == ["S1", "S2"]
    assert updated.json["job/exclusive?"] is True
    assert updated.json["job/schedule"]["schedule/cron-notation"] == "0 0 6 * * ?"
    assert updated.json["job/stats"]["total"] == 1, "its history is kept"
