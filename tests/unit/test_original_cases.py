"""The original's test cases (reference §7) for the job list, its query and sort, downloads,
calendars and executions, replayed as ours through falcon's TestClient over a real Bus on a real
SQLite file. Each test is named after the case it mirrors and quotes its expectation; where our
documented behaviour differs on purpose, the docstring says why. The original's 403 cases belong
to authorization (a later issue) and are not here; `extract-job-parameters` and
`convert-to-test-job` have no equivalent in jsbus (no BPMN, no test mode)."""
from __future__ import annotations

from datetime import datetime, timezone

import edn_format
import pytest
from edn_format import Keyword as K

from jsbus.api.joblist import Query, parse_query, parse_sort
from jsbus.model import BatchStatus
from tests.trusted_agent import trusted

pytestmark = pytest.mark.timeout(60)
S = BatchStatus
APP = "default"
EDN = {"accept": "application/edn"}
WEEKENDS = [True, False, False, False, False, False, True]


def day(month: int, dom: int) -> datetime:
    return datetime(2016, month, dom, tzinfo=timezone.utc)


def messages(response) -> list[str]:
    assert set(response.json) == {"messages"}, response.json
    return response.json["messages"]


def document(name: str) -> dict:
    return {"id": name, "steps": [{"id": "S1", "batchlet": {"ref": "unit_batch.Noop"}}]}


def create(client, name: str, app: str = APP) -> None:
    response = client.simulate_post(f"/{app}/jobs", json=document(name))
    assert response.status_code == 201, response.json


def run(bus, job: str, status: BatchStatus, created: datetime, started: datetime,
        ended: datetime, exit_status: str) -> int:
    """An execution of ``job`` (app ``default``) that a (pretend) agent ran: the data the
    original's tests transacted literally."""
    storage = bus.storage
    execution = storage.create_execution(APP, job, {}, created)
    storage.claim_executions("agent-x", created, 1)
    storage.transition_execution(execution.id, S.STARTING)
    storage.transition_execution(execution.id, S.STARTED, start_time=started)
    storage.transition_execution(execution.id, status, exit_status=exit_status, end_time=ended)
    return execution.id


def names(client, **params) -> list[str]:
    response = client.simulate_get(f"/{APP}/jobs", params=params)
    assert response.status_code == 200, response.json
    return [job["job/name"] for job in response.json["results"]]


@pytest.fixture
def default(client, app_dir):
    """The original's seed: an application named ``default``."""
    response = client.simulate_post("/apps", json={"name": APP, "classpath": [app_dir.as_uri()]})
    assert response.status_code == 201, response.json
    return APP


# -- component/jobs_test.clj: find-all, list-resource -------------------------------------------

def test_find_all(client, default):
    """find-all: "empty app ⇒ 0 jobs"."""
    assert names(client) == []


def test_list_resource_no_jobs(client, default):
    """list-resource "no jobs": GET ⇒ ``:hits 0``."""
    assert client.simulate_get(f"/{APP}/jobs").json["hits"] == 0


def test_list_resource_validation_error(client, default):
    """list-resource "validation error": ``POST {}`` ⇒ ``:messages ["name must be present"]``.

    Ours names the missing field of a JSR-352 job document, ``id`` (the original's job was
    ``:job/name`` plus BPMN): the same message shape, for our field."""
    response = client.simulate_post(f"/{APP}/jobs", json={})
    assert response.status_code == 400
    assert "job: id must be present" in messages(response)


def test_list_resource_create_a_job(client, default):
    """list-resource "create a job": 201, and find-all returns 1."""
    assert client.simulate_post(f"/{APP}/jobs", json=document("job1")).status_code == 201
    assert client.simulate_get(f"/{APP}/jobs").json["hits"] == 1


def test_list_resource_create_a_job_with_the_schedule(client, default):
    """list-resource "create a job with the schedule and the status-notifications": 201, then
    GET job 200 with a non-nil schedule.

    Ours takes a job with its schedule as an import item (a job document carries no schedule);
    status notifications are job settings here (``/{app}/job/{job}/settings/...``), not part of
    this case."""
    response = client.simulate_post(f"/{APP}/jobs", json=[{
        "job/document": document("job1"),
        "job/schedule": {"schedule/cron-notation": "0 0 12 * * ?"}}])
    assert response.status_code == 201, response.json
    job = client.simulate_get(f"/{APP}/job/job1")
    assert job.status_code == 200
    assert job.json["job/schedule"]["schedule/cron-notation"] == "0 0 12 * * ?"


# -- download-list-resource ---------------------------------------------------------------------

def assert_originals_download(response) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/force-download"
    assert response.headers["content-disposition"] == 'attachment; filename="jobs.edn"'
    return edn_format.loads(response.text)


def test_download_list_resource_empty(client, default):
    """download-list-resource: "empty ⇒ empty EDN" (an EDN client, ``Accept:
    application/edn``)."""
    assert list(assert_originals_download(
        client.simulate_get(f"/{APP}/jobs/download", headers=EDN))) == []


def test_download_list_resource_after_creating_job1(client, default):
    """download-list-resource: after creating job1, first item ``:job/name "job1"``,
    ``Content-Type application/force-download``, ``Content-disposition attachment;
    filename="jobs.edn"``."""
    create(client, "job1")
    items = assert_originals_download(client.simulate_get(f"/{APP}/jobs/download", headers=EDN))
    assert items[0][K("job/name")] == "job1"


# -- find-all-with-query ------------------------------------------------------------------------

@pytest.fixture
def queried(client, bus, default):
    """job1 and job2; job1 has one execution: created 2016-09-01, started 09-09, ended 09-10,
    exit status COMPLETED."""
    create(client, "job1")
    create(client, "job2")
    run(bus, "job1", S.COMPLETED, day(9, 1), day(9, 9), day(9, 10), "COMPLETED")
    return bus


def test_find_all_with_query_exact_name(client, queried):
    """find-all-with-query: exact name ``job1`` ⇒ 1."""
    assert names(client, q="job1") == ["job1"]


def test_find_all_with_query_names_are_ored(client, queried):
    """find-all-with-query: ``"job1 job2"`` ⇒ 2 (OR)."""
    assert sorted(names(client, q="job1 job2")) == ["job1", "job2"]


def test_find_all_with_query_substring(client, queried):
    """find-all-with-query: ``"b2"`` ⇒ job2 (substring)."""
    assert names(client, q="b2") == ["job2"]


def test_find_all_with_query_since(client, queried):
    """find-all-with-query: ``since:2016-09-09`` ⇒ job1."""
    assert names(client, q="since:2016-09-09") == ["job1"]
    assert names(client, q="since:2016-09-10") == []


def test_find_all_with_query_until_is_inclusive_of_that_day(client, queried):
    """find-all-with-query: ``until:2016-09-10`` ⇒ job1 (until is inclusive of that day)."""
    assert names(client, q="until:2016-09-10") == ["job1"]
    assert names(client, q="until:2016-09-09") == []


def test_find_all_with_query_since_and_until(client, queried):
    """find-all-with-query: since and until both ⇒ job1."""
    assert names(client, q="since:2016-09-09 until:2016-09-10") == ["job1"]


def test_find_all_with_query_exit_status(client, queried):
    """find-all-with-query: ``exit-status:COMPLETED`` ⇒ job1."""
    assert names(client, q="exit-status:COMPLETED") == ["job1"]


def test_find_all_with_query_batch_status(client, queried):
    """find-all-with-query: ``batch-status:undispatched`` ⇒ job1.

    The original's literal execution was undispatched yet had start and end times; ours reach
    ``completed`` when they end, so the ended execution is found by ``batch-status:completed``,
    and a job whose latest run waits for dispatch by ``batch-status:undispatched``."""
    assert names(client, q="batch-status:completed") == ["job1"]
    assert client.simulate_post(f"/{APP}/job/job2/executions").status_code == 201
    assert names(client, q="batch-status:undispatched") == ["job2"]


def test_find_all_with_query_only_the_latest_execution_counts(client, queried):
    """find-all-with-query: after adding a newer execution with exit FAILED:
    ``exit-status:COMPLETED`` ⇒ 0 (only latest execution counts), ``exit-status:FAILED`` ⇒ job1."""
    run(queried, "job1", S.FAILED, day(9, 11), day(9, 11), day(9, 12), "FAILED")
    assert names(client, q="exit-status:COMPLETED") == []
    assert names(client, q="exit-status:FAILED") == ["job1"]


# -- find-all-with-sort -------------------------------------------------------------------------

@pytest.fixture
def sortable(client, bus, default):
    """job1 started 09-09 (1 day, stopping), job2 09-10 (3 days, failed), job3 09-08 (2 days,
    completed): the original's literal data."""
    for name in ("job2", "job3", "job1"):
        create(client, name)
    run(bus, "job1", S.STOPPING, day(9, 9), day(9, 9), day(9, 10), "STOPPING")
    run(bus, "job2", S.FAILED, day(9, 10), day(9, 10), day(9, 13), "FAILED")
    run(bus, "job3", S.COMPLETED, day(9, 8), day(9, 8), day(9, 10), "COMPLETED")
    return bus


def test_find_all_with_sort_by_name(client, sortable):
    """find-all-with-sort: by name asc/desc."""
    assert names(client, **{"sort-by": "name:asc"}) == ["job1", "job2", "job3"]
    assert names(client, **{"sort-by": "name:desc"}) == ["job3", "job2", "job1"]


def test_find_all_with_sort_by_last_execution_started(client, sortable):
    """find-all-with-sort: ``last-execution-started`` asc ⇒ job3, job1, job2 (starts 09-08,
    09-09, 09-10)."""
    assert names(client, **{"sort-by": "last-execution-started:asc"}) == ["job3", "job1", "job2"]


def test_find_all_with_sort_by_last_execution_duration(client, sortable):
    """find-all-with-sort: ``last-execution-duration`` asc ⇒ job1 (1 d), job3 (2 d),
    job2 (3 d)."""
    assert names(client, **{"sort-by": "last-execution-duration:asc"}) == [
        "job1", "job3", "job2"]


def test_find_all_with_sort_by_last_execution_status(client, sortable):
    """find-all-with-sort: ``last-execution-status`` asc ⇒ completed < failed < stopping
    (keyword order)."""
    assert names(client, **{"sort-by": "last-execution-status:asc"}) == [
        "job3", "job2", "job1"]


def test_find_all_with_sort_by_next_execution_start(client, sortable):
    """find-all-with-sort: ``next-execution-start`` asc/desc (the original sorted literal
    data; ours computes each job's next fire from its schedule, so years far ahead keep the
    order independent of today)."""
    for name, year in (("job1", 2099), ("job2", 2097), ("job3", 2098)):
        response = client.simulate_post(f"/{APP}/job/{name}/schedule", json={
            "schedule/cron-notation": f"0 0 0 1 1 ? {year}"})
        assert response.status_code == 201, response.json
    assert names(client, **{"sort-by": "next-execution-start:asc"}) == ["job2", "job3", "job1"]
    assert names(client, **{"sort-by": "next-execution-start:desc"}) == ["job1", "job3", "job2"]


def test_find_all_with_sort_on_several_keys(client, sortable):
    """find-all-with-sort: multi-key sorts: ``[[:name :desc] [:last-execution-status :asc]]``;
    ``[[:last-execution-status :asc] [:name :asc]]`` ⇒ job3, job4, job2, job1 (job4: a fourth
    completed job, as in the original's data for this case)."""
    create(client, "job4")
    run(sortable, "job4", S.COMPLETED, day(9, 11), day(9, 11), day(9, 12), "COMPLETED")
    assert names(client, **{"sort-by": "name:desc,last-execution-status:asc"}) == [
        "job4", "job3", "job2", "job1"]
    assert names(client, **{"sort-by": "last-execution-status:asc,name:asc"}) == [
        "job3", "job4", "job2", "job1"]


# -- save-execution, executions-resource --------------------------------------------------------

def test_save_execution(client, bus, default):
    """save-execution: saving ``{:batch-status :batch-status/completed :exit-status
    "SUPERSUCCESS" :step-executions [{... :exit-status "SUCCESS"}]}`` makes GET execution show
    the step with exit status "SUCCESS" (ours: the agent's events, as an agent sends them)."""
    create(client, "job1")
    execution_id = client.simulate_post(f"/{APP}/job/job1/executions").json[
        "job-execution/execution-id"]
    bus.storage.claim_executions("a-1", datetime.now(timezone.utc), 1)
    agent = trusted(client, "a-1")
    agent.enroll({"agent/instance-id": "a-1", "agent/name": "agent-1",
                  "agent/host": "127.0.0.1", "agent/port": 4510, "agent/capacity": 1,
                  "agent/jobs": {"running": 0}})
    now = "2016-09-09T00:00:00Z"
    events = [{"type": "execution", "status": "started"},
              {"type": "step-started", "step": "S1"},
              {"type": "step-ended", "step": "S1", "status": "completed", "exit-status": "SUCCESS"},
              {"type": "execution", "status": "completed", "exit-status": "SUPERSUCCESS"}]
    saved = agent.events([dict(event, seq=seq, time=now, **{"execution-id": execution_id})
                          for seq, event in enumerate(events, 1)])
    assert saved.status_code == 200, saved.json
    shown = client.simulate_get(f"/{APP}/job/job1/execution/{execution_id}").json
    assert shown["job-execution/exit-status"] == "SUPERSUCCESS"
    (step,) = shown["job-execution/step-executions"]
    assert step["step-execution/exit-status"] == "SUCCESS"


def test_executions_resource_return_404_when_job_name_is_not_exist(client, default):
    """executions-resource: "return 404 when job-name is not exist" (POST for unknown job)."""
    response = client.simulate_post(f"/{APP}/job/nope/executions", json={"job-param1": "test"})
    assert response.status_code == 404
    assert "nope" in " ".join(messages(response))


# -- parse-query, parse-sort-order --------------------------------------------------------------

def test_parse_query():
    """parse-query: ``"a b since:2016-09-01 until:2016-09-02 exit-status:COMPLETED
    batch-status:failed"`` ⇒ job-name first "a", since 2016-09-01, until **2016-09-03**
    (exclusive upper bound), exit "COMPLETED", ``:batch-status/failed``."""
    query = parse_query("a b since:2016-09-01 until:2016-09-02 exit-status:COMPLETED "
                        "batch-status:failed")
    assert query.names[0] == "a" and query.names == ["a", "b"]
    assert query.since == day(9, 1) and query.until == day(9, 3)
    assert query.exit_status == "COMPLETED" and query.batch_status is S.FAILED


def test_parse_query_upper_cases_the_exit_status():
    """parse-query: lower-case exit status upper-cased."""
    assert parse_query("exit-status:completed").exit_status == "COMPLETED"


@pytest.mark.parametrize("text", [None, ""])
def test_parse_query_of_nothing(text):
    """parse-query: nil/"" ⇒ nil (ours: the empty query, which selects every job)."""
    assert parse_query(text) == Query()


def test_parse_query_of_a_name():
    """parse-query: ``"a"`` ⇒ ``{:job-name ("a")}``."""
    assert parse_query("a") == Query(names=["a"])


def test_parse_query_malformed_tokens(client, default):
    """parse-query: ``"a since: until: since:xxx until:yyy"`` ⇒ ``{:job-name ("a")}``.

    Ours answers 400 naming every malformed token instead of ignoring it (jsbus/api/joblist.py,
    a fix of the original's silent widening, §2.3): a mistyped date would list every job."""
    response = client.simulate_get(f"/{APP}/jobs", params={"q": "a since: until: since:xxx "
                                                                "until:yyy"})
    assert response.status_code == 400
    assert messages(response) == [
        "q: 'since:' needs a value after the colon", "q: 'until:' needs a value after the colon",
        "q: 'since:xxx' needs a date as YYYY-MM-DD", "q: 'until:yyy' needs a date as YYYY-MM-DD"]


def test_parse_sort_order_keeps_valid_pairs_in_order():
    """parse-sort-order: valid pairs kept, insertion order preserved."""
    assert parse_sort(["next-execution-start:desc", "name:asc", "last-execution-status:desc"]) \
        == [("next-execution-start", True), ("name", False), ("last-execution-status", True)]


def test_parse_sort_order_unknown_key_or_direction(client, default):
    """parse-sort-order: unknown key or direction dropped.

    Ours answers 400 naming each bad pair instead of dropping it (jsbus/api/joblist.py): a
    dropped pair silently changes the order the client asked for."""
    response = client.simulate_get(f"/{APP}/jobs", params={
        "sort-by": "name:asc,colour:asc,name:sideways"})
    assert response.status_code == 400
    assert [m.split(" must ")[0] for m in messages(response)] == [
        "sort-by: 'colour:asc'", "sort-by: 'name:sideways'"]


# -- component/calendar_test.clj ----------------------------------------------------------------

def post_calendar(client, name: str, **fields):
    body = {"calendar/name": name, **{f"calendar/{k.replace('_', '-')}": v
                                      for k, v in fields.items()}}
    return client.simulate_post("/calendars", json=body)


def test_calendar_empty_list(client):
    """calendar list: empty list ``[]``."""
    assert client.simulate_get("/calendars").json == []


def test_calendar_empty_name(client):
    """calendar list: empty name ⇒ 400."""
    response = post_calendar(client, "")
    assert response.status_code == 400
    assert "name must be present" in messages(response)


def test_calendar_create(client):
    """calendar list: create ``cal`` (weekends, day-start "02:00") ⇒ 201; the list has it."""
    assert post_calendar(client, "cal", weekly_holiday=WEEKENDS,
                         day_start="02:00").status_code == 201
    assert [c["calendar/name"] for c in client.simulate_get("/calendars").json] == ["cal"]


def test_calendar_emoji_name(client):
    """calendar list: emoji name "⏰" ⇒ 201."""
    assert post_calendar(client, "⏰").status_code == 201
    assert client.simulate_get("/calendar/⏰").json["calendar/name"] == "⏰"


def test_calendar_two_calendars(client):
    """calendar list: two calendars, ``cal`` has day-start "02:00"."""
    post_calendar(client, "cal", weekly_holiday=WEEKENDS, day_start="02:00")
    post_calendar(client, "⏰")
    listed = {c["calendar/name"]: c for c in client.simulate_get("/calendars").json}
    assert set(listed) == {"cal", "⏰"} and listed["cal"]["calendar/day-start"] == "02:00"


def test_calendar_download(client):
    """calendar download ⇒ ``cal1``, ``Content-Type "application/force-download;
    charset=utf-8"``, filename ``cals.edn`` (an EDN client; a JSON client gets ``cals.json``)."""
    post_calendar(client, "cal1", weekly_holiday=WEEKENDS)
    response = client.simulate_get("/calendars/download", headers=EDN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/force-download; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="cals.edn"'
    (cal1,) = edn_format.loads(response.text)
    assert cal1[K("calendar/name")] == "cal1"
    assert K("db/id") not in cal1


def test_calendar_export_import_round_trip(client):
    """calendar export/import round trip (the original's assertion was vacuous): every
    calendar of the EDN download, posted back as EDN once deleted, is the same calendar."""
    post_calendar(client, "cal", weekly_holiday=WEEKENDS, day_start="02:00",
                  holidays=["2016-09-19", "2016-09-22"])
    post_calendar(client, "⏰")
    before = client.simulate_get("/calendars").json
    exported = edn_format.loads(client.simulate_get("/calendars/download", headers=EDN).text)
    for calendar in before:
        assert client.simulate_delete(f"/calendar/{calendar['calendar/name']}").status_code \
            == 204
    for calendar in exported:
        response = client.simulate_post("/calendars", body=edn_format.dumps(calendar),
                                        headers={"content-type": "application/edn"})
        assert response.status_code == 201, response.json
    assert client.simulate_get("/calendars").json == before


def test_calendar_sort_by_name(client):
    """calendar ``parse-sort-order`` / ``sort-by-map``: name asc/desc."""
    for name in ("b", "c", "a"):
        post_calendar(client, name)

    def listed(order):
        return [c["calendar/name"] for c in client.simulate_get(
            "/calendars", params={"sort-by": f"name:{order}"}).json]
    assert listed("asc") == ["a", "b", "c"]
    assert listed("desc") == ["c", "b", "a"]
