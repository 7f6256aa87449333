"""A real ``jsbus serve`` given a database URL with a password never shows the password: not
in its log, not in ``/healthcheck``, not in error answers."""
from __future__ import annotations

import os
import secrets
import sys

import pytest

from jsbus.launch import Process, free_port, start_bus, wait_until
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
POSTGRES_URL = os.environ.get("JSBUS_TEST_POSTGRES_URL", "")


def test_a_bus_that_cannot_reach_its_database_does_not_log_the_password(tmp_path):
    secret = "pw-" + secrets.token_hex(8)
    url = f"postgresql://jsbus:{secret}@127.0.0.1:1/jsbus?password={secret}"
    argv = [sys.executable, "-m", "jsbus", "serve", "--bind", f"127.0.0.1:{free_port()}",
            "--database", url, "--no-discovery"]
    process = Process(argv, tmp_path / "bus.log")
    try:
        wait_until(lambda: process.popen.poll() is not None, 60, what="the bus to give up")
    finally:
        process.stop()
    output = process.output()
    assert "postgresql://jsbus:***@127.0.0.1:1/jsbus?password=***" in output, output
    assert secret not in output


@pytest.mark.skipif(not POSTGRES_URL, reason="set JSBUS_TEST_POSTGRES_URL to a scratch database")
def test_a_bus_on_postgresql_with_a_password_never_shows_it(tmp_path):
    from playhouse import db_url
    from urllib.parse import urlsplit, urlunsplit
    role, secret = "jsbus_secret_test", "pw-" + secrets.token_hex(8)
    admin = db_url.connect(POSTGRES_URL)
    admin.execute_sql("DROP SCHEMA public CASCADE")
    admin.execute_sql("CREATE SCHEMA public")
    admin.execute_sql(f"DROP ROLE IF EXISTS {role}")
    admin.execute_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
    admin.execute_sql(f"GRANT ALL ON SCHEMA public TO {role}")
    admin.close()
    parts = urlsplit(POSTGRES_URL)
    host = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme, f"{role}:{secret}@{host}", parts.path, parts.query, ""))
    process, bus_url = start_bus(tmp_path, database=url)
    try:
        answers = [api.get(f"{bus_url}/healthcheck"), api.get(f"{bus_url}/nowhere/jobs"),
                   api.post(f"{bus_url}/apps", content=b"{not json",
                            headers={"Content-Type": "application/json"}),
                   api.get(f"{bus_url}/app/nowhere")]
        assert answers[0].status_code == 200
    finally:
        process.stop()
        admin = db_url.connect(POSTGRES_URL)
        admin.execute_sql("DROP SCHEMA public CASCADE")
        admin.execute_sql("CREATE SCHEMA public")
        admin.execute_sql(f"DROP ROLE IF EXISTS {role}")
        admin.close()
    for answer in answers:
        assert secret not in answer.text
    output = process.output()
    assert f"{role}:***@" in output
    assert secret not in output
