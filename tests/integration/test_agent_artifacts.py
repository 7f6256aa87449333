"""The agent's artifact cache against a real HTTP server on loopback playing the bus (a FAKE
bus: it only serves ``/artifacts/<hex>``): fetched once, checked, and never kept when the bytes
do not match their hash."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from jsagent.artifacts import ArtifactCache, ArtifactUnavailable
from jsbus.model import StartCommand

pytestmark = pytest.mark.timeout(30)
GOOD = b"PK\x05\x06" + b"\0" * 18  # an empty zip
SHA = hashlib.sha256(GOOD).hexdigest()
OTHER = "f" * 64


@pytest.fixture
def bus():
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served.append(self.path)
            body = GOOD if self.path.endswith(SHA) else b"tampered bytes"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def command(*classpath):
    return StartCommand(execution_id=1, app="a", job="J", document={}, parameters={},
                        classpath=tuple(classpath))


def test_artifacts_are_fetched_once_checked_and_cached(bus, tmp_path):
    url, served = bus
    with httpx.Client(timeout=5) as client:
        cache = ArtifactCache(tmp_path / "cache", client, lambda: url)
        entry = f"sha256:{SHA}/app-1.0-py3-none-any.whl"
        first = cache.localize(command("file:///srv/lib", entry))
        again = cache.localize(command(entry))
    path = tmp_path / "cache" / SHA[:2] / SHA / "app-1.0-py3-none-any.whl"
    assert first.classpath == ("file:///srv/lib", path.as_uri())
    assert again.classpath == (path.as_uri(),)
    assert path.read_bytes() == GOOD
    assert served == [f"/artifacts/{SHA}"], "fetched once"


def test_bytes_that_do_not_match_their_hash_are_thrown_away(bus, tmp_path):
    url, _ = bus
    with httpx.Client(timeout=5) as client:
        cache = ArtifactCache(tmp_path / "cache", client, lambda: url)
        with pytest.raises(ArtifactUnavailable, match="thrown away, not run"):
            cache.fetch(OTHER, "evil.whl")
        entry = f"sha256:{OTHER}/evil.whl"
        assert cache.localize(command(entry)).classpath == (entry,)  # the worker fails it
        unreachable = ArtifactCache(tmp_path / "c2", client, lambda: "http://127.0.0.1:9")
        with pytest.raises(ArtifactUnavailable, match="failed"):
            unreachable.fetch(SHA, "x.whl")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
