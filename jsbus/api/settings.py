"""``/{app}/job/{job}/settings``: exclusive runs, status notifications and the time monitor, in
the original's shapes (``job/exclusive?``, ``job/time-monitor``, ``job/status-notifications``).

- ``PUT|DELETE .../settings/exclusive``: an exclusive job refuses a manual run with 409 while
  another execution is active.
- ``PUT .../settings/status-notification``: ``{"status-notification/type": "key",
  "status-notification/batch-status"?, "status-notification/exit-status"?}`` adds one (``201
  {"db/id": n}``); ``{"db/id": n}`` removes that one.
- ``PUT|DELETE .../settings/time-monitor``: ``{"time-monitor/duration": minutes,
  "time-monitor/action": "action/alert|stop|abandon", "time-monitor/notification-type"}``.
"""
from __future__ import annotations

import falcon

from jsbus.api.jobs import job_detail
from jsbus.api.jobsettings import (notification_view, parse_monitor, parse_notification,
                                   settings_view)
from jsbus.api.media import read_object
from jsbus.errors import ValidationError

class JobSettingsResource:
    """``GET /{app}/job/{job}/settings``."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req, resp: falcon.Response, app: str, job: str) -> None:
        resp.media = settings_view(self.bus, app, job)


class JobSettingResource:
    """``PUT|DELETE /{app}/job/{job}/settings/{setting}``."""

    SETTINGS = ("exclusive", "status-notification", "time-monitor")

    def __init__(self, bus):
        self.bus = bus

    def _check(self, setting: str, method: str) -> None:
        if setting not in self.SETTINGS:
            raise falcon.HTTPNotFound(description=f"unknown setting {setting!r}; the settings "
                                                  f"are {', '.join(self.SETTINGS)}")
        if method == "DELETE" and setting == "status-notification":
            raise falcon.HTTPMethodNotAllowed(
                ["PUT"], description="remove a status notification with PUT {\"db/id\": n}")

    def on_put(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               setting: str) -> None:
        self._check(setting, "PUT")
        storage = self.bus.storage
        if setting == "exclusive":
            storage.set_job_exclusive(app, job, True)
            resp.media = job_detail(self.bus, app, job)
            return
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        storage.get_job(app, job)  # 404 before any 400
        if setting == "time-monitor":
            storage.set_time_monitor(app, job, parse_monitor(body))
        elif "db/id" in body:
            if isinstance(body["db/id"], bool) or not isinstance(body["db/id"], int):
                raise ValidationError("db/id must be the id of one of the job's status "
                                      "notifications")
            storage.remove_status_notification(app, job, body["db/id"])
            self.bus.notifications.forget()
        else:
            added = storage.add_status_notification(app, job, *parse_notification(body))
            self.bus.notifications.forget()
            resp.status = falcon.HTTP_201
            resp.media = notification_view(added)
            return
        resp.media = settings_view(self.bus, app, job)

    def on_delete(self, req, resp: falcon.Response, app: str, job: str, setting: str) -> None:
        self._check(setting, "DELETE")
        if setting == "exclusive":
            self.bus.storage.set_job_exclusive(app, job, False)
            resp.media = job_detail(self.bus, app, job)
            return
        self.bus.storage.set_time_monitor(app, job, None)
        resp.media = settings_view(self.bus, app, job)
