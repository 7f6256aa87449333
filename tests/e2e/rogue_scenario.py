"""Runs INSIDE a private network namespace (``unshare -n``): a real bus with discovery on, and a
rogue that advertises ``_jobstreamer._tcp.local.`` like an agent: a small HTTP server that
records every request, answers a join, and heartbeats (unsigned, its own key) to the bus that
invited it. It must stay pending and receive no command. Prints one JSON line."""
import base64
import json
import subprocess
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
from nacl.public import PrivateKey  # noqa: E402

from jsbus.config import load_agent_config  # noqa: E402
from jsbus.launch import start_bus, stop_all, wait_until  # noqa: E402
from jsbus.plugins import PluginHost  # noqa: E402
from tests.e2e import api  # noqa: E402
from tests.e2e.helpers import deploy, register  # noqa: E402
from tests.e2e.polling import stays  # noqa: E402

ROGUE_ID = str(uuid.uuid4())
KEY = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()


class Rogue:
    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.bus_url: str | None = None
        rogue = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rogue.requests.append(("POST", self.path))
                if self.path == "/join":
                    rogue.bus_url = json.loads(raw)["bus-url"]
                    return self._answer(200, rogue.document())
                return self._answer(202, {"accepted": True})  # it would take anything

            def do_PUT(self):
                rogue.requests.append(("PUT", self.path))
                self._answer(202, {})

            def do_GET(self):
                rogue.requests.append(("GET", self.path))
                self._answer(200, rogue.document())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def document(self) -> dict:
        return {"agent/instance-id": ROGUE_ID, "agent/name": "rogue", "agent/host": "127.0.0.1",
                "agent/port": self.port, "agent/capacity": 8, "agent/jobs": {"running": 0},
                "agent/stats": {}, "agent/public-key": KEY}

    def heartbeat(self) -> int:
        answer = httpx.post(f"{self.bus_url}/agent/{ROGUE_ID}/heartbeat", json=self.document(),
                            timeout=5, trust_env=False)
        return answer.status_code


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="jsbus-rogue-"))
    bus, url = start_bus(workdir, discovery=True,
                         env={"JSBUS_ADMIN_PASSWORD": api.ADMIN_PASSWORD,
                              "JSBUS_AGENTS_LEASE": "3"})
    rogue = Rogue()
    config = load_agent_config(environ={})
    advertiser = PluginHost(config).discovery().advertiser(config)
    result = {}
    try:
        advertiser.register(ROGUE_ID, "rogue", rogue.port, "127.0.0.1",
                            {"instance-id": ROGUE_ID, "version": "0.1.0", "capacity": "8"})
        wait_until(lambda: rogue.bus_url, 60, what="the bus to invite the rogue")
        result["heartbeat_status"] = rogue.heartbeat()
        deploy(url)
        register(url, "ROGUE", ["e2e_batch.Count"])
        created = api.post(f"{url}/e2e/job/ROGUE/executions", json={})
        location = url + created.headers["location"]
        statuses = set()

        def observe() -> bool:  # the rogue heartbeats on; what becomes of the execution?
            rogue.heartbeat()
            statuses.add(api.get(location).json()["job-execution/batch-status"])
            return True  # observe all along, whatever is seen: the test judges the statuses
        stays(observe, 5, interval=0.5)  # the dispatcher ticks every second: five chances
        result["execution_statuses"] = sorted(statuses)
        result["rogue_status"] = api.get(f"{url}/agent/{ROGUE_ID}").json()["agent/status"]
        result["requests"] = rogue.requests
    finally:
        advertiser.close()
        rogue.server.shutdown()
        stop_all(bus)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
