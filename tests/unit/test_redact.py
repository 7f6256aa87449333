"""Secrets never appear in logs, answers or error messages: database URL passwords are
redacted wherever a URL is logged or put in a message."""
from __future__ import annotations

import logging

import pytest

from jsbus.errors import ConfigurationError, StorageError
from jsbus.redact import redact_text, redact_url

pytestmark = pytest.mark.timeout(60)
SECRET = "s3cret-Pw"


@pytest.mark.parametrize("url, expected", [
    (f"postgresql://jsbus:{SECRET}@db:5432/jsbus", "postgresql://jsbus:***@db:5432/jsbus"),
    (f"postgresql://jsbus:{SECRET}@db/jsbus?sslmode=require&password={SECRET}",
     "postgresql://jsbus:***@db/jsbus?sslmode=require&password=***"),
    ("postgresql://jsbus@db/jsbus", "postgresql://jsbus@db/jsbus"),
    ("sqlite:////srv/jsbus/jsbus.db", "sqlite:////srv/jsbus/jsbus.db"),
    (f"postgresql://u:{SECRET}@[::1]:5432/x", "postgresql://u:***@[::1]:5432/x"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_text_hides_urls_and_libpq_keywords_in_messages():
    text = (f"could not connect to postgresql://jsbus:{SECRET}@db/jsbus "
            f"(dsn: host=db password={SECRET} user=jsbus; password='{SECRET}')")
    assert SECRET not in redact_text(text)
    assert "postgresql://jsbus:***@db/jsbus" in redact_text(text)
    assert "host=db" in redact_text(text)


def test_storage_errors_do_not_quote_the_password():
    from jsbus_plugins.storage_peewee.connection import open_database
    from jsbus_plugins.storage_peewee.store import PeeweeStorage
    with pytest.raises(ConfigurationError) as caught:
        open_database(f"nosuchdb://jsbus:{SECRET}@db/jsbus")
    assert SECRET not in str(caught.value)
    storage = PeeweeStorage(f"postgresql://jsbus:{SECRET}@127.0.0.1:1/jsbus")
    with pytest.raises(StorageError) as caught:
        storage.ping()  # not open
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_serve_logs_the_database_url_redacted(caplog):
    from jsbus.cli import _ensure_data_dir
    from jsbus.config import load_bus_config
    config = load_bus_config(environ={}).with_overrides(
        {"bus.database": f"postgresql://jsbus:{SECRET}@db/jsbus"})
    with caplog.at_level(logging.INFO, logger="jsbus"):
        _ensure_data_dir(config)
    assert "postgresql://jsbus:***@db/jsbus" in caplog.text
    assert SECRET not in caplog.text


def test_a_storage_error_answer_and_log_are_redacted(client, bus, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise StorageError(f"list_applications: cannot reach "
                           f"postgresql://jsbus:{SECRET}@db/jsbus")
    monkeypatch.setattr(bus.storage, "list_applications", broken)
    monkeypatch.setattr(bus.storage, "ping", broken)
    with caplog.at_level(logging.ERROR):
        response = client.simulate_get("/apps")
        health = client.simulate_get("/healthcheck")
    assert response.status_code == 503 and health.status_code == 503
    assert SECRET not in response.text and SECRET not in health.text
    assert "***" in response.text
    assert SECRET not in caplog.text


def test_the_leader_lines_are_redacted(bus_config, caplog, monkeypatch):
    from jsbus.bus import Bus
    instance = Bus(bus_config)
    instance.storage.open()
    lock = instance.storage.leader_lock()
    monkeypatch.setattr(instance.storage, "leader_lock", lambda: lock)
    real = instance.storage.url
    instance.storage.url = f"postgresql://jsbus:{SECRET}@db/jsbus"  # as it would be logged
    try:
        with caplog.at_level(logging.INFO, logger="jsbus"):
            instance.start()
    finally:
        instance.stop()
        instance.storage.url = real
    assert "leader" in caplog.text and "postgresql://jsbus:***@db/jsbus" in caplog.text
    assert SECRET not in caplog.text
