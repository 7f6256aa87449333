"""``/{app}/job/{job}/settings``: exclusive runs, status notifications and the time monitor."""
from __future__ import annotations

import falcon

from jsbus.api.jobs import job_detail


class JobSettingResource:
    """``PUT|DELETE /{app}/job/{job}/settings/exclusive``: the original's ``job/exclusive?``
    (an exclusive job refuses a manual run with 409 while another execution is active)."""

    def __init__(self, bus):
        self.bus = bus

    def _set(self, resp: falcon.Response, app: str, job: str, setting: str, on: bool) -> None:
        if setting != "exclusive":
            raise falcon.HTTPNotFound(description=f"unknown setting {setting!r}")
        self.bus.storage.set_job_exclusive(app, job, on)
        resp.media = job_detail(self.bus, app, job)

    def on_put(self, req, resp, app: str, job: str, setting: str) -> None:
        self._set(resp, app, job, setting, True)

    def on_delete(self, req, resp, app: str, job: str, setting: str) -> None:
        self._set(resp, app, job, setting, False)
