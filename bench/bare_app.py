"""A bare falcon app under the gunicorn settings of ``jsbus serve`` (``gunicorn_settings``): the
yardstick of ``bench/api.py``. It serves, for ``GET /{app}/job/{job}`` and ``GET /{app}/jobs``,
a fixed document read from a JSON file at start (``resp.media``: serialised per request, as the
bus does), with no middleware, no authentication and no storage.

    python -m bench.bare_app --bind 127.0.0.1:PORT --job job.json --jobs jobs.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import falcon
from gunicorn.app.base import BaseApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jsbus.config import load_bus_config  # noqa: E402
from jsbus.server import gunicorn_settings  # noqa: E402


class Fixed:
    def __init__(self, document):
        self.document = document

    def on_get(self, req: falcon.Request, resp: falcon.Response, **_) -> None:
        resp.media = self.document


def create_app(job: dict, jobs: dict) -> falcon.App:
    app = falcon.App()
    app.add_route("/{app}/job/{job}", Fixed(job))
    app.add_route("/{app}/jobs", Fixed(jobs))
    app.add_route("/healthcheck", Fixed({"status": "ok"}))
    return app


class BareServer(BaseApplication):
    def __init__(self, bind: str, job: dict, jobs: dict):
        self.config = load_bus_config().with_overrides({"bus.bind": bind})
        self.documents = (job, jobs)
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_settings(self.config).items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(*self.documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--job", required=True, help="JSON file: the job document")
    parser.add_argument("--jobs", required=True, help="JSON file: the job list document")
    args = parser.parse_args()
    job, jobs = (json.loads(Path(p).read_text()) for p in (args.job, args.jobs))
    sys.argv = sys.argv[:1]  # gunicorn must not read our options
    BareServer(args.bind, job, jobs).run()


if __name__ == "__main__":
    main()
