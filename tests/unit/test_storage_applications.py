"""Applications in revisions, their deletion, and artifacts: on SQLite, and on PostgreSQL when
configured."""
from __future__ import annotations

import pytest

from jsbus.errors import ApplicationNotFound, Conflict
from jsbus.model import Application, Artifact

from .conftest import T0, definition


def test_every_deploy_is_a_revision_and_executions_record_theirs(storage):
    first = storage.save_application(Application("shop", "v1", ("file:///srv/one",)))
    storage.save_job("shop", definition())
    before = storage.create_execution("shop", "JOB-1", {}, T0)
    second = storage.save_application(Application("shop", "v2", ("file:///srv/two",)))
    after = storage.create_execution("shop", "JOB-1", {}, T0)
    assert (first.revision, second.revision) == (1, 2)
    assert (before.revision, after.revision) == (1, 2)
    assert storage.get_execution(before.id).revision == 1
    old = storage.get_application("shop", revision=1)
    assert (old.description, old.classpath, old.revision) == ("v1", ("file:///srv/one",), 1)
    assert storage.get_application("shop").classpath == ("file:///srv/two",)
    with pytest.raises(ApplicationNotFound):
        storage.get_application("shop", revision=9)


def test_an_application_with_jobs_goes_only_with_cascade(storage):
    storage.save_application(Application("shop"))
    storage.save_job("shop", definition())
    storage.create_execution("shop", "JOB-1", {}, T0)
    with pytest.raises(Conflict, match="JOB-1"):
        storage.delete_application("shop")
    assert storage.delete_application("shop", cascade=True) == ["JOB-1"]
    with pytest.raises(ApplicationNotFound):
        storage.get_application("shop")
    again = storage.save_application(Application("shop"))
    assert again.revision == 1  # a new application under the old name starts over


def test_artifacts_are_recorded_once_by_hash(storage):
    artifact = Artifact(sha256="ab" * 32, filename="x-1.0-py3-none-any.whl", size=10,
                        kind="wheel", distribution="x", version="1.0", created_at=T0)
    assert storage.save_artifact(artifact) == artifact
    renamed = Artifact(sha256="ab" * 32, filename="other.whl", size=10, kind="wheel")
    assert storage.save_artifact(renamed).filename == "x-1.0-py3-none-any.whl"
    assert storage.get_artifact("cd" * 32) is None
    assert artifact.entry == f"sha256:{'ab' * 32}/x-1.0-py3-none-any.whl"
