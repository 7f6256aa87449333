"""``application/edn`` beside JSON: the original console's requests replayed in EDN through
falcon's TestClient over a real Bus (SQLite in a temp dir), and the negotiation rules."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import edn_format
import falcon
import falcon.testing
import pytest
from edn_format import Keyword as K

from jsbus.api import edn_media
from jsbus.api.app import create_app
from jsbus.model import BatchStatus, LogRecord
from tests.conftest import admin_headers
from tests.trusted_agent import trusted

pytestmark = pytest.mark.timeout(60)

EDN = {"content-type": "application/edn", "accept": "application/edn"}
AGENT = str(uuid.UUID("0f5c8a5e-6f43-4c1e-9d2b-7f1f3c2a9b10"))
IDENT = K("db/ident")


@pytest.fixture
def client(bus):
    """The app as the bus serves it, with EDN installed (a no-op once create_app installs it)."""
    app = create_app(bus)
    edn_media.install(app)
    return falcon.testing.TestClient(app, headers=admin_headers(bus))


def edn(response, status: int):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/edn", response.headers
    return edn_format.loads(response.text)


def send(client, method: str, path: str, body: str | None = None, status: int = 200):
    return edn(client.simulate_request(method, path, body=body, headers=EDN), status)


def ident(name: str) -> dict:
    return {IDENT: K(name)}


def is_vector(value) -> bool:
    return isinstance(value, edn_format.ImmutableList)


def finish(bus, execution_id: int) -> None:
    """What an agent's events would record: the execution ran on AGENT, one step, two logs."""
    storage, now = bus.storage, datetime.now(timezone.utc)
    storage.transition_execution(execution_id, BatchStatus.QUEUED, agent_id=AGENT)
    storage.transition_execution(execution_id, BatchStatus.STARTED, start_time=now)
    storage.start_step(execution_id, "only", now)
    storage.end_step(execution_id, "only", BatchStatus.COMPLETED, now + timedelta(seconds=1),
                     "COMPLETED", metrics={"read-count": 0})
    storage.append_logs([LogRecord(execution_id, now, "INFO", "hello", step_name="only",
                                   logger="unit"),
                         LogRecord(execution_id, now, "WARNING", "job-level")])
    storage.transition_execution(execution_id, BatchStatus.COMPLETED,
                                 end_time=now + timedelta(seconds=2), exit_status="COMPLETED")


def heartbeat(client) -> None:
    body = {"agent/instance-id": AGENT, "agent/name": "agent-1", "agent/host": "127.0.0.1",
            "agent/port": 4510, "agent/capacity": 1, "agent/jobs": {"running": 0},
            "agent/stats": {"memory": {"physical": {"free": 1, "total": 2}}}}
    trusted(client, AGENT).enroll(body)  # an enrolled agent's signed heartbeats: ready


# -- the console's session ----------------------------------------------------------------------

def test_console_session_in_edn(client, bus, app_dir):
    deployed = send(client, "POST", "/apps",
                    f'{{:application/name "default" :application/description "d" '
                    f':application/classpaths ["{app_dir.as_uri()}"]}}', status=201)
    assert deployed[K("application/name")] == "default"
    assert deployed[K("application/classpaths")] == [app_dir.as_uri()]
    assert is_vector(deployed[K("application/classpaths")])

    # a job document in EDN goes to the EDN job parser, the answer comes back in EDN
    job = send(client, "POST", "/default/jobs",
               '{:id "EDN-JOB" :steps [{:id "only" :batchlet {:ref "unit_batch.Noop"}}]}', 201)
    assert job[K("job/name")] == "EDN-JOB" and job[K("job/steps")] == ["only"]
    assert job[K("job/latest-execution")] is None
    assert job[K("job/stats")] == {K("total"): 0, K("success"): 0, K("failure"): 0,
                                   K("average"): 0}
    assert job[K("job/document")][K("id")] == "EDN-JOB"

    run = send(client, "POST", "/default/job/EDN-JOB/executions", '{:param1 "x" :n 3}', 201)
    execution_id = run[K("job-execution/execution-id")]
    assert run[K("job-execution/batch-status")] == ident("batch-status/undispatched")
    assert isinstance(run[K("job-execution/create-time")], datetime)
    assert run[K("job-execution/start-time")] is None
    # the original answered the parameters as their EDN text
    assert edn_format.loads(run[K("job-execution/job-parameters")]) == {K("param1"): "x",
                                                                       K("n"): "3"}
    finish(bus, execution_id)

    shown = send(client, "GET", "/default/job/EDN-JOB")
    latest = shown[K("job/latest-execution")]
    assert latest[K("job-execution/batch-status")] == ident("batch-status/completed")
    assert latest[K("job-execution/agent")][K("agent/instance-id")] == uuid.UUID(AGENT)
    assert shown[K("job/stats")][K("total")] == 1

    listed = send(client, "GET", "/default/job/EDN-JOB/executions")
    assert set(listed) == {K("results"), K("hits"), K("limit"), K("offset")}
    assert is_vector(listed[K("results")]) and listed[K("hits")] == 1
    assert isinstance(listed[K("results")][0][K("job-execution/end-time")], datetime)

    one = send(client, "GET", f"/default/job/EDN-JOB/execution/{execution_id}")
    (step,) = one[K("job-execution/step-executions")]
    assert step[K("step-execution/batch-status")] == ident("batch-status/completed")
    assert isinstance(step[K("step-execution/start-time")], datetime)
    assert step[K("step-execution/metrics")] == {K("read-count"): 0}
    (log,) = step[K("step-execution/logs")]
    assert log[K("execution-log/level")] == ident("log-level/info")
    assert isinstance(log[K("execution-log/date")], datetime)
    assert one[K("job-execution/logs")][0][K("execution-log/level")] == ident("log-level/warning")

    heartbeat(client)
    (agent,) = send(client, "GET", "/agents")
    assert agent[K("agent/instance-id")] == uuid.UUID(AGENT)
    assert agent[K("agent/status")] == K("ready")
    assert isinstance(agent[K("agent/last-seen")], datetime)
    assert agent[K("agent/jobs")] == {K("running"): 0}
    detail = send(client, "GET", f"/agent/{AGENT}")
    assert [e[K("job-execution/execution-id")] for e in detail[K("agent/executions")]] == [
        execution_id]


def test_calendars_and_a_schedule_in_edn(client, deployed):
    app, job = deployed
    created = send(client, "POST", "/calendars",
                   '{:calendar/name "cal" :calendar/holidays [#inst "2026-01-01" '
                   '#inst "2026-05-05T00:00:00.000-00:00"] '
                   ':calendar/weekly-holiday [true false false false false false true] '
                   ':calendar/day-start "02:00"}', 201)
    assert created[K("calendar/holidays")] == [
        datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 5, 5, tzinfo=timezone.utc)]
    assert created[K("calendar/weekly-holiday")] == [True, False, False, False, False, False,
                                                     True]
    assert created[K("calendar/day-start")] == "02:00"
    (listed,) = send(client, "GET", "/calendars")
    assert listed == created
    changed = send(client, "PUT", "/calendar/cal",
                   '{:calendar/name "cal" :calendar/holidays [#inst "2026-12-25"] '
                   ':calendar/weekly-holiday [false false false false false false false]}')
    assert [d.date() for d in changed[K("calendar/holidays")]] == [date(2026, 12, 25)]
    assert send(client, "GET", "/calendar/cal") == changed

    schedule = send(client, "POST", f"/{app}/job/{job}/schedule",
                    '{:schedule/cron-notation "0 0 12 * * ?" '
                    ':schedule/calendar {:calendar/name "cal"}}', 201)
    assert schedule[K("schedule/cron-notation")] == "0 0 12 * * ?"
    assert schedule[K("schedule/active?")] is True
    assert schedule[K("schedule/calendar")] == {K("calendar/name"): "cal"}
    shown = send(client, "GET", f"/{app}/job/{job}")
    assert shown[K("job/schedule")] == schedule
    assert isinstance(shown[K("job/next-execution")][K("job-execution/start-time")], datetime)
    fires = send(client, "GET", f"/{app}/job/{job}/schedule/fires", None)
    assert isinstance(fires[K("from")], datetime)
    assert all(isinstance(f[K("fire/time")], datetime) for f in fires[K("fires")])

    in_use = send(client, "DELETE", "/calendar/cal", status=400)
    assert set(in_use) == {K("messages")} and is_vector(in_use[K("messages")])
    assert client.simulate_delete(f"/{app}/job/{job}/schedule").status_code == 204
    assert client.simulate_delete("/calendar/cal", headers=EDN).status_code == 204


def test_an_empty_edn_body_runs_without_parameters(client, deployed):
    app, job = deployed
    empty = client.simulate_post(f"/{app}/job/{job}/executions", body="", headers=EDN)
    assert edn(empty, 201)[K("job-execution/job-parameters")] == "{}"


# -- negotiation --------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*",
                                    "text/html,application/xhtml+xml,*/*;q=0.8"])
def test_json_stays_the_default(client, deployed, accept):
    headers = {"accept": accept} if accept else {}
    for path, status in (("/apps", 200), ("/app/nope", 404)):
        response = client.simulate_get(path, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert response.json is not None


def test_edn_when_the_client_prefers_it(client, deployed):
    app, job = deployed
    for accept in ("application/edn", "application/edn, application/json;q=0.5"):
        response = client.simulate_get(f"/{app}/job/{job}", headers={"accept": accept})
        assert edn(response, 200)[K("job/name")] == job
    missing = edn(client.simulate_get("/app/nope", headers=EDN), 404)
    assert set(missing) == {K("messages")} and "nope" in " ".join(missing[K("messages")])
    # a JSON request may ask for an EDN answer
    response = client.simulate_post(f"/{app}/job/{job}/executions", json={"p": "1"},
                                     headers={"accept": "application/edn"})
    assert edn(response, 201)[K("job-execution/job-parameters")] == '{:p "1"}'


def test_an_accept_naming_neither_json_nor_edn_is_406_and_changes_nothing(client, app_dir):
    body = {"name": "a1", "classpath": [app_dir.as_uri()]}
    response = client.simulate_post("/apps", json=body, headers={"accept": "text/html"})
    assert response.status_code == 406
    assert "application/edn" in " ".join(response.json["messages"])
    assert client.simulate_get("/apps").json == []
    assert client.simulate_get("/apps", headers={"accept": "image/png"}).status_code == 406


def test_resources_that_negotiate_themselves_are_left_alone(client, deployed):
    app, job = deployed
    xml = client.simulate_get(f"/{app}/job/{job}/document", headers={"accept": "application/xml"})
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
    document = client.simulate_get(f"/{app}/job/{job}/document", headers=EDN)
    assert document.status_code == 200
    assert edn_format.loads(document.text)[K("id")] == job
    converted = client.simulate_post("/jobs/convert", body=document.content, headers={
        "content-type": "application/edn", "accept": "application/xml"})
    assert converted.status_code == 200 and b"<job" in converted.content
    # calendars/download keeps its own content type: the original's EDN file for EDN clients
    download = client.simulate_get("/calendars/download", headers=EDN)
    assert download.status_code == 200 and edn_format.loads(download.text) == []
    assert download.headers["content-type"] == "application/force-download; charset=utf-8"


# -- request bodies -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ("{:application/name", "malformed EDN"),
    ('{:a 1} {:b 2}', "expected one form, found 2"),
    ("{:application/name foo}", "application/name: Symbol"),
    ('#unknown/tag "x"', "malformed EDN"),
    ("[1 2]", "EDN map"),
])
def test_bad_edn_bodies_are_400(client, body, expected):
    response = client.simulate_post("/apps", body=body,
                                    headers={"content-type": "application/edn"})
    assert response.status_code == 400
    assert expected in " ".join(response.json["messages"])
    assert client.simulate_get("/apps").json == []


def test_unsupported_content_type_is_still_415(client):
    response = client.simulate_post("/apps", body="x", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "application/edn" in " ".join(response.json["messages"])
    response = client.simulate_post("/apps", body="x", headers={"content-type": "text/plain",
                                                                "accept": "application/edn"})
    assert edn(response, 415)[K("messages")]


# -- the conversion tables ----------------------------------------------------------------------

def test_edn_request_values_read_as_json_shaped_values():
    body = ('{:calendar/holidays [#inst "2026-01-01" #inst "2026-01-02T03:04:05.006Z"] '
            ':status {:db/ident :batch-status/failed} :action :action/stop :plain "p" '
            ':id #uuid "0f5c8a5e-6f43-4c1e-9d2b-7f1f3c2a9b10" :tags #{:a} :list (1 2) '
            '"string key" nil :ratio 1.5M :char \\c}')
    assert edn_media.loads(body) == {
        "calendar/holidays": ["2026-01-01T00:00:00.000Z", "2026-01-02T03:04:05.006Z"],
        "status": "batch-status/failed", "action": "action/stop", "plain": "p",
        "id": "0f5c8a5e-6f43-4c1e-9d2b-7f1f3c2a9b10", "tags": ["a"], "list": [1, 2],
        "string key": None, "ratio": 1.5, "char": "c"}


def test_json_answers_written_as_the_originals_edn():
    answer = {"results": [{"job-execution/batch-status": "batch-status/started",
                           "job-execution/start-time": "2026-01-02T03:04:05.006Z",
                           "job-execution/end-time": None,
                           "job-execution/exit-status": "batch-status/like-text",
                           "job-execution/agent": {"agent/instance-id": "not-a-uuid"},
                           "agent/stats": {"cpu": {"time": 12}, "odd key": 1}}],
              "hits": 1}
    text = edn_media.dumps(answer)
    (row,) = edn_format.loads(text)[K("results")]
    assert row[K("job-execution/batch-status")] == ident("batch-status/started")
    assert row[K("job-execution/start-time")] == datetime(2026, 1, 2, 3, 4, 5, 6000,
                                                          tzinfo=timezone.utc)
    assert row[K("job-execution/end-time")] is None
    assert row[K("job-execution/exit-status")] == "batch-status/like-text"
    assert row[K("job-execution/agent")][K("agent/instance-id")] == "not-a-uuid"
    assert row[K("agent/stats")] == {K("cpu"): {K("time"): 12}, "odd key": 1}
    # and back: an EDN answer read as a request gives the JSON answer again
    assert edn_media.loads(text)["results"][0]["job-execution/batch-status"] == (
        "batch-status/started")


def test_install_twice_changes_nothing(bus):
    app = create_app(bus)
    edn_media.install(app)
    edn_media.install(app)
    client = falcon.testing.TestClient(app, headers=admin_headers(bus))
    assert edn(client.simulate_get("/apps", headers=EDN), 200) == []


@pytest.mark.parametrize("key", ["job/name", "job/restartable?", "results", "read-count", "-a",
                                 "a.b/c", "x<y", "a'b", "odd key", "1a", "x/y/z", "", "ü"])
def test_every_json_key_comes_back_from_edn_as_itself(key):
    assert edn_media.loads(edn_media.dumps({key: 1})) == {key: 1}


# -- the job list as the original's EDN file: download and import -------------------------------

IMPORT = {"content-type": "application/edn", "accept": "application/edn"}
PROPERTIES = {"time": "2026-01-01", "odd key": "x"}  # data, not an instant; not a keyword


def originals_file(response) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/force-download"
    assert response.headers["content-disposition"] == 'attachment; filename="jobs.edn"'
    items = edn_format.loads(response.text)
    assert is_vector(items)
    return items


@pytest.fixture
def exported(client, deployed):
    """``shop`` with JOB-1 (exclusive, a paused schedule) and JOB-2 (properties): its EDN
    download."""
    app, job = deployed
    document = {"id": "JOB-2", "properties": PROPERTIES,
                "steps": [{"id": "S1", "batchlet": {"ref": "unit_batch.Noop"}}]}
    assert client.simulate_post(f"/{app}/jobs", json=document).status_code == 201
    client.simulate_put(f"/{app}/job/{job}/settings/exclusive")
    assert client.simulate_post(f"/{app}/job/{job}/schedule", json={
        "schedule/cron-notation": "0 0 6 ? * MON-FRI"}).status_code == 201
    client.simulate_put(f"/{app}/job/{job}/schedule/pause")
    return client.simulate_get(f"/{app}/jobs/download", headers={"accept": "application/edn"})


def test_the_jobs_download_of_an_edn_client_is_the_originals_file(client, exported):
    one, two = originals_file(exported)
    assert (one[K("job/name")], two[K("job/name")]) == ("JOB-1", "JOB-2")
    assert one[K("job/exclusive?")] is True
    assert one[K("job/schedule")][K("schedule/cron-notation")] == "0 0 6 ? * MON-FRI"
    assert one[K("job/schedule")][K("schedule/active?")] is False
    assert one[K("job/document")][K("steps")][0][K("id")] == "STEP-1"
    assert two[K("job/document")][K("properties")] == {K("time"): "2026-01-01", "odd key": "x"}
    # a JSON client keeps its JSON file; a client taking neither gets 406
    plain = client.simulate_get("/shop/jobs/download")
    assert plain.headers["content-type"] == "application/json"
    assert plain.headers["content-disposition"] == 'attachment; filename="shop-jobs.json"'
    assert [job["job/name"] for job in plain.json] == ["JOB-1", "JOB-2"]
    assert client.simulate_get("/shop/jobs/download",
                               headers={"accept": "text/html"}).status_code == 406
    empty = client.simulate_get("/shop/jobs/download", params={"q": "nothing-like-it"},
                                headers={"accept": "application/edn"})
    assert originals_file(empty) == []


def test_the_edn_download_imports_back_all_or_nothing(client, exported):
    assert client.simulate_post("/apps", json={"name": "copy", "classpath": []}).status_code \
        == 201
    created = send(client, "POST", "/copy/jobs", exported.text, 201)
    assert created == {K("created"): ["JOB-1", "JOB-2"], K("replaced"): []}
    original = client.simulate_get("/shop/jobs/download").json
    assert client.simulate_get("/copy/jobs/download").json == original
    assert original[1]["job/document"]["properties"] == PROPERTIES
    replaced = send(client, "POST", "/copy/jobs", exported.text, 200)
    assert replaced[K("replaced")] == ["JOB-1", "JOB-2"]
    # a list (not only a vector) is an import too
    as_list = "(" + exported.text.strip()[1:-1] + ")"
    assert send(client, "POST", "/copy/jobs", as_list)[K("replaced")] == ["JOB-1", "JOB-2"]


@pytest.mark.parametrize("body, expected", [
    ('[{:id "x" :steps [', "malformed EDN"),
    ("[{:id foo}]", "malformed EDN: [0].id: Symbol"),
    ("42", "job: must be an object"),  # not a vector: read as one job document
    ('"jobs"', "job: must be an object"),
    ("[]", "the import holds no jobs"),
    ("[1]", "[0] must be a job document or an exported job object"),
    ('[{:id "fine" :steps [{:id "S1" :batchlet {:ref "m.A"}}]} {:id "bad name!" :steps []}]',
     "[1]: "),
    ('[{:job/name "job1" :job/bpmn-xml-notation "<bpmn/>" :job/svg-notation "<svg/>" '
     ':job/exclusive? false :job/schedule {:schedule/cron-notation "0 0 12 * * ?"}}]',
     "[0]: job 'job1' is the original's BPMN job (job/bpmn-xml-notation), which jsbus cannot "
     "import"),
    ('[{:job/document {:id "a" :steps [{:id "S" :batchlet {:ref "m.A"}}]}} '
     '{:id "a" :steps [{:id "S" :batchlet {:ref "m.A"}}]}]', "jobs named more than once: a"),
])
def test_a_bad_edn_import_is_400_and_imports_nothing(client, deployed, body, expected):
    app, _ = deployed
    refused = send(client, "POST", f"/{app}/jobs", body, 400)
    assert set(refused) == {K("messages")}
    assert expected in " | ".join(refused[K("messages")])
    assert client.simulate_get(f"/{app}/jobs").json["hits"] == 1, "nothing imported"


def test_the_jobs_of_an_unknown_application_are_404_in_edn(client):
    missing = send(client, "POST", "/nowhere/jobs",
                   '[{:id "a" :steps [{:id "S" :batchlet {:ref "m.A"}}]}]', 404)
    assert "nowhere" in " ".join(missing[K("messages")])
    assert send(client, "GET", "/nowhere/jobs/download", status=404)[K("messages")]
