"""``shell`` and ``java-main`` run only in applications where an admin enabled them
(``PUT /app/{name}/builtins``): the bus refuses to register or submit such jobs elsewhere, and
the agent refuses to run them for an execution whose start command does not enable them (a ref
the bus cannot see: a job parameter)."""
from __future__ import annotations

import pytest

from tests.e2e import api
from tests.e2e.helpers import deploy, run_to_end, wait_for_agents
from tests.e2e.test_execution_control import register_document

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def steps_of(execution):
    return {s["step-execution/step-name"]: s for s in execution["job-execution/step-executions"]}


def test_shell_is_refused_without_the_setting_and_runs_with_it(running_bus, running_agent,
                                                                tmp_path):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    marker = tmp_path / "ran"
    plain = {"id": "PLAIN", "steps": [{"id": "sh", "batchlet": {"ref": "shell", "properties": {
        "command": f"touch {marker}"}}}]}
    refused = api.post(f"{url}/e2e/jobs", json=plain)
    assert refused.status_code == 400
    assert "has not enabled" in refused.text and "'shell'" in refused.text
    # A ref the bus cannot check at registration: the agent refuses it at run time.
    hidden = {"id": "HIDDEN", "steps": [{"id": "sh", "batchlet": {
        "ref": "#{jobParameters['which']}", "properties": {"command": f"touch {marker}"}}}]}
    register_document(url, hidden)
    failed = run_to_end(url, "HIDDEN", params={"which": "shell"})
    assert failed["job-execution/batch-status"] == "batch-status/failed"
    step = steps_of(failed)["sh"]
    text = " ".join(line["execution-log/message"] + str(line.get("execution-log/exception"))
                    for line in step["step-execution/logs"])
    assert "has not enabled" in text, step
    assert not marker.exists()
    # An admin enables shell: the same jobs register and run.
    enabled = api.put(f"{url}/app/e2e/builtins", json={"application/builtins": ["shell"]})
    assert enabled.status_code == 200, enabled.text
    assert api.get(f"{url}/app/e2e").json()["application/builtins"] == ["shell"]
    register_document(url, plain)
    done = run_to_end(url, "PLAIN")
    assert done["job-execution/batch-status"] == "batch-status/completed", done
    assert marker.exists()
    marker.unlink()
    done = run_to_end(url, "HIDDEN", params={"which": "shell"})
    assert done["job-execution/batch-status"] == "batch-status/completed", done
    assert marker.exists()
    # Disabled again: a submission is a 409 naming the setting.
    assert api.put(f"{url}/app/e2e/builtins", json={"application/builtins": []}).status_code \
        == 200
    conflict = api.post(f"{url}/e2e/job/PLAIN/executions", json={})
    assert conflict.status_code == 409
    assert "application/builtins" in conflict.text
