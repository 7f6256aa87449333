"""``GET /{app}/job/{job}/executions?batch-status=...``: only executions in those statuses, with
``hits`` counting them; a name that is not a batch status is a 400 naming the parameter."""
from __future__ import annotations

from datetime import datetime, timezone

from jsbus.model import BatchStatus


def test_batch_status_filter_counts_and_lists_only_those(client, bus):
    client.simulate_post("/apps", json={"name": "shop", "classpath": []})
    client.simulate_post("/shop/jobs", json={"id": "Nightly", "steps": [
        {"id": "one", "batchlet": {"ref": "shop.One"}}]})
    ids = [client.simulate_post("/shop/job/Nightly/executions", json={}).json[
        "job-execution/execution-id"] for _ in range(3)]
    now = datetime.now(timezone.utc)
    bus.storage.transition_execution(ids[0], BatchStatus.ABANDONED, end_time=now)
    waiting = client.simulate_get("/shop/job/Nightly/executions",
                                  params={"batch-status": "undispatched,queued"}).json
    everything = client.simulate_get("/shop/job/Nightly/executions").json
    ended = client.simulate_get("/shop/job/Nightly/executions",
                                params={"batch-status": "batch-status/abandoned"}).json
    assert everything["hits"] == 3
    assert waiting["hits"] == 2
    assert sorted(e["job-execution/execution-id"] for e in waiting["results"]) == ids[1:]
    assert [e["job-execution/execution-id"] for e in ended["results"]] == [ids[0]]
    pages = [client.simulate_get("/shop/job/Nightly/executions", params={
        "batch-status": "abandoned,undispatched", "limit": 1, "offset": n}).json
        for n in range(4)]
    assert [[e["job-execution/execution-id"] for e in page["results"]] for page in pages] == [
        [ids[2]], [ids[1]], [ids[0]], []]
    assert {page["hits"] for page in pages} == {3}


def test_an_unknown_batch_status_is_a_400_naming_the_parameter(client):
    client.simulate_post("/apps", json={"name": "shop", "classpath": []})
    client.simulate_post("/shop/jobs", json={"id": "Nightly", "steps": [
        {"id": "one", "batchlet": {"ref": "shop.One"}}]})
    answer = client.simulate_get("/shop/job/Nightly/executions",
                                 params={"batch-status": "started,sleeping"})
    assert answer.status_code == 400
    assert any("batch-status" in m and "sleeping" in m for m in answer.json["messages"])
