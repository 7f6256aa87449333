"""``/{app}/jobs`` and ``/{app}/job/{job}``: register, list, read, update and delete jobs."""
from __future__ import annotations

import falcon

from jsbus.api import edn_media, render
from jsbus.api.joblist import Row, parse_query, parse_sort, parse_with, sort_rows
from jsbus.api.jobport import export_job, import_jobs
from jsbus.api.jobsettings import settings_view
from jsbus.api.media import EDN, JSON, loads_json, media_type, read_body, require_type
from jsbus.components import check_builtins
from jsbus.errors import ValidationError
from jsbus.jsl import check, definition_from_document, job_to_document
from jsbus.model import JobDefinition


def edn_items(body: bytes) -> list | None:
    """The items of an EDN vector body (an import); None for any other body, which the EDN
    job parser reads (and refuses, when it is malformed)."""
    try:
        return edn_media.loads_sequence(body)
    except edn_media.MalformedEdn as exc:
        raise ValidationError(str(exc)) from None


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


def schedule_fields(bus, app: str, name: str, registered: int = 0, known=False) -> dict:
    """``job/schedule`` and ``job/next-execution`` (calendars and substitution applied), and
    with ``registered`` the next fires as ``registered`` pseudo-executions; ``known``: the
    schedule when the caller read it already (None: none)."""
    from jsbus.api.schedules import next_fires, schedule_view
    schedule, fires = next_fires(bus, app, name, max(1, registered), known)
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
    job = storage.get_job(app, name)  # the rest is of a job known to exist: no look-ups again
    latest = storage.latest_executions(app, [name]).get(name)
    return {**render.job(job), "job/stats": render.stats(storage.job_stats(app, name, True)),
            "job/latest-execution": render.execution(latest) if latest else None,
            **settings_view(bus, app, name, job),
            **schedule_fields(bus, app, name, known=storage.schedules_of(app, [name]).get(name)),
            "job/document": job_to_document(job.definition)}


def csv_param(req: falcon.Request, name: str) -> list[str] | None:
    """A parameter given as ``a,b`` or repeated (``?x=a&x=b``), as a list; None when absent."""
    values = req.get_param_as_list(name)
    if values is None:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def listing(bus, req: falcon.Request, app: str, default_limit: int = 20,
            max_limit: int = 1000) -> tuple[list[Row], int, int, int, set[str]]:
    """The jobs of ``app`` that ``q`` selects, sorted by ``sort-by`` and paged: (page, hits,
    offset, limit, with-parts). Every parameter is checked before anything is read."""
    storage = bus.storage
    query = parse_query(req.get_param("q"))
    parts = parse_with(csv_param(req, "with"))
    order = parse_sort(csv_param(req, "sort-by"))
    offset = req.get_param_as_int("offset", min_value=0, default=0)
    limit = req.get_param_as_int("limit", min_value=1, max_value=max_limit,
                                 default=default_limit)
    storage.get_application(app)
    if not query.needs_execution and all(key == "name" for key, _ in order):
        # Names only: the database pages (the cost does not grow with the number of jobs).
        jobs, hits = storage.list_jobs(app, offset, limit, names=query.names,
                                       descending=bool(order) and order[0][1])
        names = [job.name for job in jobs]
        latest = storage.latest_executions(app, names) if "execution" in parts else {}
        schedules = (storage.schedules_of(app, names) if parts & {"execution", "schedule"}
                     else {})
        rows = [Row(job, latest.get(job.name), schedule=schedules.get(job.name))
                for job in jobs]
        return rows, hits, offset, limit, parts
    jobs, _ = storage.list_jobs(app, 0, 1_000_000)
    latest = storage.latest_executions(app)
    rows = [Row(job, latest.get(job.name)) for job in jobs
            if query.matches(job, latest.get(job.name))]
    if any(key == "next-execution-start" for key, _ in order):
        from jsbus.api.schedules import next_fires
        for row in rows:
            _, fires = next_fires(bus, app, row.job.name, 1)
            row.next_start = fires[0].slot if fires else None
    rows = sort_rows(rows, order)
    return rows[offset:offset + limit], len(rows), offset, limit, parts


def list_item(bus, app: str, row: Row, parts: set[str]) -> dict:
    item = render.job(row.job)
    if "execution" in parts:
        item["job/latest-execution"] = render.execution(row.latest) if row.latest else None
    if "schedule" in parts or "execution" in parts:
        fields = schedule_fields(bus, app, row.job.name,
                                 registered=5 if "schedule" in parts else 0, known=row.schedule)
        if "schedule" not in parts:
            fields.pop("job/schedule")
        item.update(fields)
    if "settings" in parts:
        item.update(settings_view(bus, app, row.job.name, row.job))
    if "notation" in parts:
        item["job/document"] = job_to_document(row.job.definition)
    return item


class JobsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        rows, hits, offset, limit, parts = listing(self.bus, req, app)
        resp.media = {"results": [list_item(self.bus, app, row, parts) for row in rows],
                      "hits": hits, "limit": limit, "offset": offset}

    def on_get_download(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        """Every job selected (``q``, ``sort-by``; all of them by default) as one document that
        ``POST /{app}/jobs`` imports: a JSON list, or for a client preferring EDN the original's
        file (an EDN vector, ``application/force-download``, ``filename="jobs.edn"``)."""
        rows, _, _, _, _ = listing(self.bus, req, app, default_limit=100_000,
                                   max_limit=100_000)
        exported = [export_job(self.bus, row.job) for row in rows]
        if edn_media.preferred(req) == edn_media.EDN:
            edn_media.attachment(resp, exported, "jobs.edn")
            return
        resp.media = exported
        resp.set_header("Content-Disposition", f'attachment; filename="{app}-jobs.json"')

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        application = self.bus.storage.get_application(app)
        kind = media_type(req)
        if kind not in (JSON, EDN):
            definition = parse_job(self.bus, req)
        else:
            body = read_body(req, self.bus.config.get("bus.max_body_bytes") * 64)
            document = loads_json(body) if kind == JSON else edn_items(body)
            if isinstance(document, list):  # an export: import every job, or none
                created, replaced = import_jobs(self.bus, app, document)
                resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
                resp.media = {"created": created, "replaced": replaced}
                return
            limit = self.bus.config.get("bus.max_body_bytes")
            if len(body) > limit:  # imports may be larger; one job document may not
                raise falcon.HTTPContentTooLarge(
                    title="Request body too large",
                    description=f"a job document is at most {limit} bytes")
            definition = (definition_from_document(document) if kind == JSON
                          else self.bus.plugins.parser_for(EDN).parse(body))
        check_builtins(definition, application)
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
        check_builtins(definition, self.bus.storage.get_application(app))
        self.bus.storage.save_job(app, definition)
        resp.media = dict(job_detail(self.bus, app, job), **{"job/warnings": warnings(
            definition, self.bus.storage.get_application(app))})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        self.bus.storage.delete_job(app, job)
        self.bus.schedule_changed(app, job)
        resp.status = falcon.HTTP_204


class JobDocumentResource:
    """``GET /{app}/job/{job}/document``: the job as a document, in the form the ``Accept``
    header asks for (JSON by default, EDN, or JSR-352 Job XML): the export half of import."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        write_document(self.bus, req, resp, self.bus.storage.get_job(app, job).definition)


def write_document(bus, req: falcon.Request, resp: falcon.Response,
                   definition: JobDefinition) -> None:
    """The job as a document in the form ``Accept`` asks for (JSON by default); 406 when no
    parser plugin writes that form."""
    plugins = bus.plugins
    offered = [t for t in plugins.media_types()
               if (parser := plugins.parser_for(t)) and parser.dump]
    chosen = ("application/json" if not req.accept or req.accept == "*/*"
              else req.client_prefers(offered))
    if chosen is None:
        raise falcon.HTTPNotAcceptable(description=f"a job can be written as "
                                                   f"{', '.join(offered)}")
    resp.content_type = chosen
    resp.data = plugins.parser_for(chosen).dump(definition)
