"""Fixtures of the storage tests (``test_storage_peewee.py``, ``test_storage_schedules.py``).

Every test taking ``storage`` runs once per backend: SQLite files in ``tmp_path`` always, and
PostgreSQL when ``JSBUS_TEST_POSTGRES_URL`` names a scratch database (its ``public`` schema is
dropped before each test).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from playhouse import db_url

from jsbus.jsl.model import Ref, Step
from jsbus.model import Application, JobDefinition
from jsbus_plugins.storage_peewee import PeeweeStorage

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
POSTGRES_URL = os.environ.get("JSBUS_TEST_POSTGRES_URL", "")


def _backends():
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="set JSBUS_TEST_POSTGRES_URL to a scratch database"))]


@pytest.fixture(params=_backends())
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jsbus.db'}"
    database = db_url.connect(POSTGRES_URL)
    database.execute_sql("DROP SCHEMA public CASCADE")
    database.execute_sql("CREATE SCHEMA public")
    database.close()
    return POSTGRES_URL


@pytest.fixture
def storage(url):
    store = PeeweeStorage(url)
    store.open()
    yield store
    store.close()


def definition(name="JOB-1", steps=("STEP-1",)):
    return JobDefinition(
        id=name, restartable=False, properties={"owner": "ops"},
        elements=tuple(Step(step, batchlet=Ref(f"demo.{step}", {"k": "v"}),
                            next=steps[i + 1] if i + 1 < len(steps) else None)
                       for i, step in enumerate(steps)))


@pytest.fixture
def job(storage):
    """Application ``demo`` with job ``JOB-1``: ("demo", "JOB-1")."""
    storage.save_application(Application("demo", "a demo", ("file:///srv/demo",)))
    storage.save_job("demo", definition())
    return "demo", "JOB-1"
