"""Status notifications with real bus and agent processes: a job run by the agent posts each
matching transition, once, to a webhook receiver on loopback (the original's notificator
protocol, in JSON and in EDN)."""
import json

import edn_format
import pytest
from edn_format import Keyword

from jsbus.launch import start_agent, start_bus
from tests.e2e.helpers import deploy, run_to_end, wait_for_agents
from tests.webhook import WebhookReceiver, until
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.mark.parametrize("form", ["json", "edn"])
def test_each_matching_transition_is_posted_once(tmp_path, form):
    with WebhookReceiver() as receiver:
        bus, url = start_bus(tmp_path, env={"JSBUS_NOTIFICATIONS_URL": receiver.url,
                                            "JSBUS_NOTIFICATIONS_FORMAT": form})
        agent = None
        try:
            agent, _ = start_agent(tmp_path, url)
            wait_for_agents(url)
            deploy(url)
            response = api.post(f"{url}/e2e/jobs", timeout=10, json={
                "id": "HELLO", "steps": [{"id": "greet", "batchlet": {"ref": "e2e_batch.Greet"}}]})
            assert response.status_code == 201, response.text
            for status in ("started", "completed", "failed"):
                added = api.put(f"{url}/e2e/job/HELLO/settings/status-notification",
                                  timeout=10, json={"status-notification/type": f"on-{status}",
                                                    "status-notification/batch-status": status})
                assert added.status_code == 201, added.text
            done = run_to_end(url, "HELLO")
            assert done["job-execution/batch-status"] == "batch-status/completed"
            receiver.wait_for(2)

            def delivered():
                results = api.get(f"{url}/e2e/job/HELLO/notifications",
                                    timeout=10).json()["results"]
                return [d for d in results if d["delivery/state"] == "delivered"]
            record = until(lambda: len(delivered()) == 2 and delivered(),
                           what="both deliveries recorded")
        finally:
            if agent is not None:
                agent.stop()
            bus.stop()
    assert sorted(r.path for r in receiver.received) == ["/notify/on-completed",
                                                         "/notify/on-started"]
    assert len(record) == 2 and all(d["delivery/attempts"] == 1 for d in record)
    completed = next(r for r in receiver.received if r.path.endswith("on-completed"))
    if form == "json":
        body = json.loads(completed.body)
        assert (body["job-name"], body["batch-status"]) == ("HELLO", "batch-status/completed")
        assert body["execution-id"] == done["job-execution/execution-id"]
    else:
        assert completed.content_type == "application/edn"
        body = edn_format.loads(completed.body.decode())
        assert body[Keyword("job-name")] == "HELLO"
        assert body[Keyword("batch-status")] == Keyword("batch-status/completed")
