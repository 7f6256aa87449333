"""Schedules and calendars through the REST API (falcon TestClient, a real Bus, real SQLite)."""
import pytest

pytestmark = pytest.mark.timeout(60)

WEEKDAYS = [True, False, False, False, False, False, True]  # Sunday and Saturday off


def messages(response):
    assert set(response.json) == {"messages"}, response.json
    return " | ".join(response.json["messages"])


def schedule(client, app, job, **body):
    return client.simulate_post(f"/{app}/job/{job}/schedule",
                                json={f"schedule/{k.replace('_', '-')}": v for k, v in body.items()})


def test_schedule_lifecycle(client, deployed):
    app, job = deployed
    created = schedule(client, app, job, cron_notation="0 0 12 * * ?", time_zone="Europe/Berlin")
    assert created.status_code == 201, created.json
    assert created.json["schedule/active?"] is True
    shown = client.simulate_get(f"/{app}/job/{job}").json
    assert shown["job/schedule"]["schedule/cron-notation"] == "0 0 12 * * ?"
    assert shown["job/next-execution"]["job-execution/start-time"].endswith(":00:00.000Z")
    paused = client.simulate_put(f"/{app}/job/{job}/schedule/pause")
    assert paused.json["schedule/active?"] is False
    assert client.simulate_get(f"/{app}/job/{job}").json["job/next-execution"] is None
    assert client.simulate_put(f"/{app}/job/{job}/schedule/resume").json["schedule/active?"]
    listed = client.simulate_get(f"/{app}/jobs", query_string="with=schedule").json
    registered = listed["results"][0]["job/executions"]
    assert len(registered) == 5
    assert {e["job-execution/batch-status"] for e in registered} == {"batch-status/registered"}
    assert client.simulate_delete(f"/{app}/job/{job}/schedule").status_code == 204
    assert client.simulate_get(f"/{app}/job/{job}").json["job/schedule"] is None
    assert client.simulate_get(f"/{app}/job/{job}/schedule").status_code == 404


@pytest.mark.parametrize("body, expected", [
    ({}, "schedule/cron-notation must be present"),
    ({"cron_notation": "0 0 12 * *"}, "schedule/cron-notation"),
    ({"cron_notation": "0 0 12 * * MON"}, "exactly one of day-of-month and day-of-week"),
    ({"cron_notation": "0 0 25 * * ?"}, "hour"),
    ({"cron_notation": "0 0 12 ? * 8"}, "day-of-week"),
    ({"cron_notation": "0 0 12 * * ?", "time_zone": "Mars/Olympus"}, "schedule/time-zone"),
    ({"cron_notation": "0 0 12 * * ?", "calendar": "nope"}, "no calendar named 'nope'"),
    ({"cron_notation": "0 0 12 * * ?", "misfire_policy": "panic"}, "schedule/misfire-policy"),
    ({"cron_notation": "0 0 12 * * ? 2001"}, "schedule/cron-notation"),
])
def test_invalid_schedules_get_400_naming_the_field(client, deployed, body, expected):
    app, job = deployed
    response = schedule(client, app, job, **body)
    assert response.status_code == 400, response.json
    assert expected in messages(response)
    assert client.simulate_get(f"/{app}/job/{job}/schedule").status_code == 404


def test_a_schedule_that_would_never_fire_is_refused(client, deployed):
    app, job = deployed
    client.simulate_post("/calendars", json={"calendar/name": "never",
                                             "calendar/weekly-holiday": [True] * 7})
    response = schedule(client, app, job, cron_notation="0 0 0 * * ?", calendar="never")
    assert response.status_code == 400 and "calendar" in messages(response)


def test_fires_preview_marks_calendar_and_dst(client, deployed):
    app, job = deployed
    client.simulate_post("/calendars", json={"calendar/name": "weekdays",
                                             "calendar/weekly-holiday": WEEKDAYS})
    assert schedule(client, app, job, cron_notation="0 30 2 * * ?", time_zone="Europe/Berlin",
                    calendar="weekdays").status_code == 201
    fires = client.simulate_get(f"/{app}/job/{job}/schedule/fires",
                                query_string="n=10&from=2025-03-27T00:00:00Z").json["fires"]
    by_day = {f["fire/local-time"][:10]: f for f in fires}
    assert by_day["2025-03-29"]["fire/excluded"] == "calendar"  # a Saturday
    assert by_day["2025-03-30"]["fire/excluded"] == "calendar"  # Sunday, the DST day
    assert by_day["2025-03-28"]["fire/time"] == "2025-03-28T01:30:00.000Z"
    assert by_day["2025-03-31"]["fire/local-time"] == "2025-03-31T02:30:00+02:00"
    bad = client.simulate_get(f"/{app}/job/{job}/schedule/fires", query_string="from=soon")
    assert bad.status_code == 400 and "from" in messages(bad)


def test_calendars_as_the_original_tests_expect(client, deployed):
    assert client.simulate_get("/calendars").json == []
    empty = client.simulate_post("/calendars", json={"calendar/name": ""})
    assert empty.status_code == 400 and "name must be present" in messages(empty)
    created = client.simulate_post("/calendars", json={
        "calendar/name": "cal", "calendar/weekly-holiday": WEEKDAYS,
        "calendar/holidays": ["2015-07-20"], "calendar/day-start": "02:00"})
    assert created.status_code == 201, created.json
    assert client.simulate_post("/calendars", json={"calendar/name": "⏰"}).status_code == 201
    names = [c["calendar/name"] for c in client.simulate_get("/calendars").json]
    assert sorted(names) == sorted(["cal", "⏰"])
    assert client.simulate_get("/calendar/cal").json["calendar/day-start"] == "02:00"
    for bad in ("-01:01", "24:01", "01:-01", "01:60", "0101", "a"):
        response = client.simulate_post("/calendars", json={"calendar/name": "x",
                                                            "calendar/day-start": bad})
        assert response.status_code == 400 and "Invalid hh:mm format" in messages(response), bad
    download = client.simulate_get("/calendars/download")
    assert download.headers["content-type"] == "application/force-download; charset=utf-8"
    assert 'filename="cals.json"' in download.headers["content-disposition"]
    updated = client.simulate_put("/calendar/cal", json={"calendar/day-start": "03:00"})
    assert updated.status_code == 200 and updated.json["calendar/day-start"] == "03:00"
    assert client.simulate_put("/calendar/nope", json={}).status_code == 404


def test_a_calendar_in_use_cannot_be_deleted(client, deployed):
    app, job = deployed
    client.simulate_post("/calendars", json={"calendar/name": "cal",
                                             "calendar/weekly-holiday": WEEKDAYS})
    assert schedule(client, app, job, cron_notation="0 0 12 * * ?",
                    calendar="cal").status_code == 201
    refused = client.simulate_delete("/calendar/cal")
    assert refused.status_code == 400
    assert refused.json["messages"][0] == "This calendar is already used by some job."
    client.simulate_delete(f"/{app}/job/{job}/schedule")
    assert client.simulate_delete("/calendar/cal").status_code == 204
    assert client.simulate_get("/calendar/cal").status_code == 404


def test_an_exclusive_job_refuses_a_second_manual_run(client, deployed):
    app, job = deployed
    assert client.simulate_put(f"/{app}/job/{job}/settings/exclusive").json["job/exclusive?"]
    assert client.simulate_post(f"/{app}/job/{job}/executions").status_code == 201
    second = client.simulate_post(f"/{app}/job/{job}/executions")
    assert second.status_code == 409 and "exclusive" in messages(second)
    assert client.simulate_delete(f"/{app}/job/{job}/settings/exclusive").status_code == 200
    assert client.simulate_post(f"/{app}/job/{job}/executions").status_code == 201
    assert client.simulate_put(f"/{app}/job/{job}/settings/colour").status_code == 404
