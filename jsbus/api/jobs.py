"""``/{app}/jobs`` and ``/{app}/job/{job}``: register, list, read, update and delete jobs."""
from __future__ import annotations

import falcon

from jsbus.api import render
from jsbus.api.media import media_type, read_body, require_type
from jsbus.errors import ValidationError
from jsbus.jsl import check, job_to_document
from jsbus.model import JobDefinition


def page(req: falcon.Request) -> tuple[int, int]:
    offset = req.get_param_as_int("offset", min_value=0, default=0)
    limit = req.get_param_as_int("limit", min_value=1, max_value=1000, default=20)
    return offset, limit


def parse_job(bus, req: falcon.Request) -> JobDefinition:
    """Parse the body with the parser plugin that claims its Content-Type."""
    kind = media_type(req)
    parser = bus.plugins.parser_for(kind) if kind else None
    if parser is None:
        require_type(req, tuple(bus.plugins.media_types()))
    return parser.parse(read_body(req, bus.config.get("bus.max_body_bytes")))


def warnings(definition: JobDefinition, application) -> list[str]:
    """What the specification allows but is likely a mistake (unreachable elements, refs the
    application's classpath does not contain): reported, never refused."""
    return check(definition, application.classpath)[1]


def schedule_fields(bus, app: str, name: str, registered: int = 0) -> dict:
    """``job/schedule`` and ``job/next-execution`` (calendars and substitution applied), and
    with ``registered`` the next fires as ``registered`` pseudo-executions."""
    from jsbus.api.schedules import next_fires, schedule_view
    schedule, fires = next_fires(bus, app, name, max(1, registered))
    fields = {"job/schedule": schedule_view(schedule) if schedule else None,
              "job/next-execution": ({"job-execution/start-time": render.rfc3339(fires[0].slot)}
                                     if fires else None)}
    if registered:
        fields["job/executions"] = [{"job-execution/batch-status": "batch-status/registered",
                                     "job-execution/start-time": render.rfc3339(fire.slot)}
                                    for fire in fires[:registered]]
    return fields


def job_detail(bus, app: str, name: str) -> dict:
    storage = bus.storage
    job = storage.get_job(app, name)
    latest = storage.latest_execution(app, name)
    return {**render.job(job), "job/stats": render.stats(storage.job_stats(app, name)),
            "job/latest-execution": render.execution(latest) if latest else None,
            "job/exclusive?": job.exclusive, **schedule_fields(bus, app, name),
            "job/document": job_to_document(job.definition)}


class JobsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        storage = self.bus.storage
        storage.get_application(app)
        offset, limit = page(req)
        with_schedule = "schedule" in (req.get_param_as_list("with") or [])
        jobs, hits = storage.list_jobs(app, offset, limit)
        results = []
        for job in jobs:
            latest = storage.latest_execution(app, job.name)
            results.append({**render.job(job),
                            "job/latest-execution": render.execution(latest) if latest else None,
                            **(schedule_fields(self.bus, app, job.name, registered=5)
                               if with_schedule else {})})
        resp.media = {"results": results, "hits": hits, "limit": limit, "offset": offset}

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        application = self.bus.storage.get_application(app)
        definition = parse_job(self.bus, req)
        job, created = self.bus.storage.save_job(app, definition)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.location = f"/{app}/job/{job.name}"
        resp.media = dict(job_detail(self.bus, app, job.name),
                          **{"job/warnings": warnings(definition, application)})


class JobResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        resp.media = job_detail(self.bus, app, job)

    def on_put(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        self.bus.storage.get_job(app, job)
        definition = parse_job(self.bus, req)
        if definition.id != job:
            raise ValidationError(f"id {definition.id!r} must be the job's name in the path "
                                  f"({job!r})")
        self.bus.storage.save_job(app, definition)
        resp.media = dict(job_detail(self.bus, app, job), **{"job/warnings": warnings(
            definition, self.bus.storage.get_application(app))})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        self.bus.storage.delete_job(app, job)
        self.bus.schedule_changed(app, job)
        resp.status = falcon.HTTP_204


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


class JobDocumentResource:
    """``GET /{app}/job/{job}/document``: the job as a document, in the form the ``Accept``
    header asks for (JSON by default, EDN, or JSR-352 Job XML): the export half of import."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        definition = self.bus.storage.get_job(app, job).definition
        offered = [t for t in self.bus.plugins.media_types()
                   if (parser := self.bus.plugins.parser_for(t)) and parser.dump]
        chosen = "application/json" if not req.accept or req.accept == "*/*" else \
            req.client_prefers(offered)
        if chosen is None:
            raise falcon.HTTPNotAcceptable(description=f"this job can be exported as "
                                                       f"{', '.join(offered)}")
        resp.content_type = chosen
        resp.data = self.bus.plugins.parser_for(chosen).dump(definition)
