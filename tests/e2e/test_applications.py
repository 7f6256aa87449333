"""Applications with uploaded code: a real wheel built during the test, uploaded to the bus,
fetched by an agent that cannot see the client's files, and run by revision."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jsbus.launch import start_agent, wait_until
from tests.e2e import api
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MODULE = '''
import os
import select

from jsagent.api import Batchlet

VERSION = "{version}"


class Version(Batchlet):
    """Exits with the version of the wheel it came from; with ``wait_for`` (a named pipe) set,
    it first waits (up to 60 s) for a word on that pipe, to stay running while the test deploys
    again."""

    wait_for = ""

    def process(self):
        if self.wait_for:
            fd = os.open(self.wait_for, os.O_RDONLY | os.O_NONBLOCK)
            try:
                ready, _, _ = select.select([fd], [], [], 60)
            finally:
                os.close(fd)
            if not ready:
                return "GAVE-UP"
        return "v" + VERSION
'''


def build_wheel(workdir: Path, version: str) -> Path:
    """A real wheel of distribution ``shipped-app`` (pure Python), built offline."""
    project = workdir / f"project-{version}"
    (project / "shipped_app").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "shipped-app"\nversion = "{version}"\n'
        '[tool.setuptools]\npackages = ["shipped_app"]\n')
    (project / "shipped_app" / "__init__.py").write_text(MODULE.format(version=version))
    out = workdir / f"wheels-{version}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(project)],
                   check=True, capture_output=True, timeout=120)
    [wheel] = out.glob("*.whl")
    return wheel


def release(pipe: Path) -> bool:
    """Write a word to the named pipe the running batchlet listens on; False while nobody
    listens yet (the batchlet has not opened it)."""
    try:
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet
        return False
    try:
        os.write(fd, b"go")
    finally:
        os.close(fd)
    return True


def step_exit(execution: dict) -> str:
    return execution["job-execution/step-executions"][0]["step-execution/exit-status"]


def upload(url: str, app: str, wheel: Path) -> dict:
    with open(wheel, "rb") as content:
        answer = api.post(f"{url}/{app}/batch-components", timeout=30,
                            files={"file": (wheel.name, content, "application/octet-stream")})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_uploaded_wheel_runs_by_revision_on_an_agent_without_the_files(running_bus, tmp_path):
    url = running_bus
    client_dir = tmp_path / "client"
    first = build_wheel(client_dir, "1.0")
    deployed = upload(url, "shipped", first)
    assert deployed["application/revision"] == 1
    [artifact] = deployed["artifacts"]
    assert deployed["application/classpaths"] == [artifact["artifact/entry"]]
    assert (artifact["artifact/distribution"], artifact["artifact/version"]) == (
        "shipped_app", "1.0")
    components = api.get(f"{url}/shipped/batch-components", timeout=60).json()
    assert "shipped_app.Version" in components["batch-component/batchlet"]
    shutil.rmtree(client_dir)  # the agent can only get the code from the bus now
    marker = tmp_path / "deployed-again"
    os.mkfifo(marker)
    agent, _ = start_agent(tmp_path, url, name="far-agent")
    try:
        wait_for_agents(url)
        document = {"id": "SHIPPED", "steps": [{"id": "run", "batchlet": {
            "ref": "shipped_app.Version",
            "properties": {"wait_for": "#{jobParameters['wait_for']}?:;"}}}]}
        assert api.post(f"{url}/shipped/jobs", json=document, timeout=10).status_code == 201
        created = api.post(f"{url}/shipped/job/SHIPPED/executions",
                             json={"wait_for": str(marker)}, timeout=10)
        running_first = url + created.headers["location"]
        wait_for_status(running_first, "batch-status/started")
        second = build_wheel(tmp_path / "client-2", "2.0")
        redeployed = upload(url, "shipped", second)
        assert redeployed["application/revision"] == 2
        assert len(redeployed["application/classpaths"]) == 1, "2.0 replaced 1.0"
        wait_until(lambda: release(marker), 30, what="the running batchlet to listen")
        done_first = wait_for_status(running_first)
        done_second = run_to_end(url, "SHIPPED", app="shipped")
        cached = list((tmp_path / "far-agent" / "artifacts").rglob("*.whl"))
    finally:
        agent.stop()
    assert (done_first["job-execution/batch-status"], step_exit(done_first)) == (
        "batch-status/completed", "v1.0"), "the running execution kept revision 1"
    assert (done_first["job-execution/revision"], done_second["job-execution/revision"]) == (1, 2)
    assert (done_second["job-execution/batch-status"], step_exit(done_second)) == (
        "batch-status/completed", "v2.0")
    assert sorted(path.name for path in cached) == [first.name, second.name]
    artifact_url = f"{url}/artifacts/{artifact['artifact/sha256']}"
    refused = api.get(artifact_url, timeout=10)  # code goes to enrolled agents, signed, only
    assert refused.status_code == 401 and "must be signed" in refused.json()["messages"][0]


def test_two_applications_with_a_job_of_the_same_name(running_bus, running_agent, tmp_path):
    url = running_bus
    deploy(url, app="e2e")
    upload(url, "other", build_wheel(tmp_path, "3.1"))
    register(url, "SAME", ["e2e_batch.Greet"], app="e2e")
    register(url, "SAME", ["shipped_app.Version"], app="other")
    ours, theirs = run_to_end(url, "SAME", app="e2e"), run_to_end(url, "SAME", app="other")
    assert step_exit(ours) == "GREETED"
    assert step_exit(theirs) == "v3.1"
    listed = api.get(f"{url}/apps", timeout=10).json()
    assert {"e2e", "other"} <= {app["application/name"] for app in listed}
    refused = api.delete(f"{url}/app/other", timeout=10)
    assert refused.status_code == 409 and "SAME" in refused.json()["messages"][0]
    gone = api.delete(f"{url}/app/other", params={"cascade": "true"}, timeout=10)
    assert gone.status_code == 200 and gone.json()["deleted-jobs"] == ["SAME"]
    assert api.get(f"{url}/app/other", timeout=10).status_code == 404
    assert api.get(f"{url}/e2e/job/SAME", timeout=10).status_code == 200
