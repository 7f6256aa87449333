"""The paths of ``GET /openapi.json`` for status, applications, jobs and executions; keyed by
falcon's URI templates (``{id:int}``), which ``openapi.document`` turns into OpenAPI paths with
typed path parameters. A command segment (``{command}``) is listed once per command."""
from __future__ import annotations

from typing import Any

from jsbus.api.joblist import SORT_KEYS, WITH_PARTS
from jsbus.api.openapi_parts import (LOCATION, answer, json_body, operation as op, paging,
                                     query, ref)

JOB_DOCUMENT = {"$ref": "/schemas/job.json"}
DOCUMENT_FORMS = {"application/json": {"schema": JOB_DOCUMENT},
                  "application/edn": {"schema": {"type": "string"}},
                  "application/xml": {"schema": {"type": "string",
                                                 "description": "JSR-352 Job XML"}}}
EXECUTION = "/{app}/job/{job}/execution/{execution_id:int}"

JOB_QUERY = [
    query("q", "Whitespace-separated tokens: name parts (OR-ed), `since:YYYY-MM-DD`, "
               "`until:YYYY-MM-DD`, `exit-status:X`, `batch-status:x` (on each job's latest "
               "execution; AND-ed). A malformed token is a 400 naming it."),
    query("sort-by", f"`key:asc|desc`, comma-separated, earlier keys first; keys: "
                     f"{', '.join(SORT_KEYS)}.",
          {"type": "array", "items": {"type": "string"}}),
]
WITH = query("with", f"The parts of each job to include, comma-separated: "
                     f"{', '.join(WITH_PARTS)} (default `execution`).",
             {"type": "array", "items": {"enum": list(WITH_PARTS)}})


def _document_body(description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": dict(DOCUMENT_FORMS)}


def _job_post() -> dict[str, Any]:
    content = dict(DOCUMENT_FORMS)
    content["application/json"] = {"schema": {"anyOf": [JOB_DOCUMENT, ref("JobImport")]}}
    return op("Register a job document, or import a download", "jobs", {
        "201": answer("Created (one job: the job; an import: the names)",
                      {"anyOf": [ref("SavedJob"), ref("ImportResult")]}, headers=LOCATION),
        "200": answer("Replaced", {"anyOf": [ref("SavedJob"), ref("ImportResult")]})},
        ("400", "404", "413", "415"),
        body={"required": True, "content": content,
              "description": "A job document (JSON, EDN or Job XML by Content-Type), or a "
                             "JSON list / EDN vector as `GET /{app}/jobs/download` writes it; "
                             "the original's BPMN export (`job/bpmn-xml-notation`) is refused "
                             "with 400 naming each item."})


def record_id() -> dict[str, Any]:
    return {"type": "object", "properties": {"db/id": {"type": "integer"}},
            "required": ["db/id"]}


def _execution_command(command: str, status: str, summary: str) -> dict[str, Any]:
    body = (json_body(ref("JobParameters"), "Job parameters (optional)", required=False)
            if command == "restart" else None)
    return {"put": op(summary, "executions", {
        status: answer(summary, ref("Execution"),
                       headers=LOCATION if command == "restart" else None)},
        ("400", "404", "409", "502"), body=body)}


STATUS_PATHS: dict[str, Any] = {
    "/version": {"get": op("The bus's version", "status", {"200": answer("OK", ref("Version"))})},
    "/healthcheck": {"get": op("Whether storage answers, and the bus's role", "status", {
        "200": answer("OK", ref("Health")),
        "503": answer("storage is down: `{\"status\": \"unavailable\", \"messages\": [...]}`",
                      {"allOf": [{"$ref": "#/components/schemas/Messages"},
                                 {"properties": {"status": {"const": "unavailable"}}}]})})},
    "/schemas/job.json": {"get": op("The JSON Schema (2020-12) of job documents", "jobs", {
        "200": answer("The schema", {"type": "object"}, media="application/schema+json")})},
    "/openapi.json": {"get": op("This document", "status", {
        "200": answer("OpenAPI 3.1", {"type": "object", "required": ["openapi", "paths"]})})},
    "/{app}/stats": {"get": op("Counts of ready agents and of the application's jobs", "status",
                               {"200": answer("OK", ref("Stats"))}, ("404",))},
}

APP_PATHS: dict[str, Any] = {
    "/apps": {
        "get": op("The applications", "applications", {
            "200": answer("OK", {"type": "array", "items": ref("Application")})}),
        "post": op("Deploy (create or update) an application; each deploy is a new revision",
                   "applications", {
                       "201": answer("Created", ref("Application"), headers=LOCATION),
                       "200": answer("Updated", ref("Application"), headers=LOCATION)},
                   ("400", "413", "415"), body=json_body(ref("ApplicationRequest")))},
    "/app/{name}": {
        "get": op("One application", "applications",
                  {"200": answer("OK", ref("Application"))}, ("404",)),
        "delete": op("Delete an application", "applications", {
            "200": answer("Deleted", ref("DeletedApplication"))}, ("400", "404", "409"),
            parameters=[query("cascade", "Delete its jobs too (otherwise 409 while it has "
                                         "jobs).", {"type": "boolean", "default": False})])},
    "/app/{name}/builtins": {
        "get": op("The restricted built-in batchlets the application enabled", "applications",
                  {"200": answer("OK", ref("AppBuiltins"))}, ("404",)),
        "put": op("Enable exactly these restricted built-ins (admins: manage-apps)",
                  "applications", {"200": answer("The application", ref("Application"))},
                  ("400", "404"), body=json_body(
                      {"type": "object", "required": ["application/builtins"], "properties": {
                          "application/builtins": {"type": "array", "items": {
                              "enum": ["shell", "java-main"]}}}},
                      "`shell` and `java-main` run programs: none is enabled by default; "
                      "jobs using one that is not enabled are refused (400 at registration, "
                      "409 at submission) and the agent does not run them."))},
    "/{app}/batch-components": {
        "get": op("The batch components found in the classpath", "applications",
                  {"200": answer("OK", ref("BatchComponents"))}, ("404",)),
        "post": op("Upload wheels, zips or jars into the classpath (all or none)",
                   "applications", {"201": answer("A new revision", ref("Upload"),
                                                  headers=LOCATION)},
                   ("400", "413"), body={"required": True, "content": {"multipart/form-data": {
                       "schema": {"type": "object", "required": ["file"], "properties": {
                           "file": {"type": "array", "items": {
                               "type": "string", "contentMediaType":
                                   "application/octet-stream"}}}}}}})},
    "/artifacts/{sha256}": {"get": op("An uploaded file, by its SHA-256", "applications", {
        "200": answer("The file", {"type": "string", "contentMediaType":
                                   "application/octet-stream"},
                      media="application/octet-stream",
                      headers={"Content-Disposition": "attachment; filename=...",
                               "X-Checksum-Sha256": "The file's SHA-256"})}, ("404",))},
}

JOB_PATHS: dict[str, Any] = {
    "/{app}/jobs": {
        "get": op("The application's jobs, filtered, sorted and paged", "jobs", {
            "200": answer("OK", ref("JobPage"))}, ("400", "404"),
            parameters=JOB_QUERY + [WITH] + paging()),
        "post": _job_post()},
    "/{app}/jobs/download": {"get": op("Every selected job as one importable document", "jobs", {
        "200": {"description": "OK", "headers": {"Content-Disposition": {
            "description": "attachment; filename=\"{app}-jobs.json\" (JSON) or "
                           "filename=\"jobs.edn\" (EDN)", "schema": {"type": "string"}}},
                "content": {
                    "application/json": {"schema": {"type": "array",
                                                    "items": ref("ExportedJob")}},
                    "application/force-download": {"schema": {
                        "type": "string", "description": "For a client preferring "
                        "application/edn: the original's file, an EDN vector of the same "
                        "jobs"}}}}}, ("400", "404", "406"),
        parameters=JOB_QUERY + paging(100_000, 100_000))},
    "/jobs/convert": {"post": op("Convert a job document between JSON, EDN and Job XML", "jobs",
                                 {"200": {"description": "The document in the form `Accept` "
                                                         "asks for",
                                          "content": dict(DOCUMENT_FORMS)}},
                                 ("400", "406", "413", "415"),
                                 body=_document_body("A job document"))},
    "/{app}/job/{job}": {
        "get": op("A job with its stats, latest execution and schedule", "jobs", {
            "200": answer("OK", ref("JobDetail"))}, ("404",)),
        "put": op("Replace the job's document", "jobs", {"200": answer("OK", ref("SavedJob"))},
                  ("400", "404", "413", "415"),
                  body=_document_body("A job document whose id is the job's name")),
        "delete": op("Delete the job with its history", "jobs", {"204": answer("Deleted")},
                     ("404",))},
    "/{app}/job/{job}/document": {"get": op("The job as a document (by `Accept`)", "jobs", {
        "200": {"description": "OK", "content": dict(DOCUMENT_FORMS)}}, ("404", "406"))},
    "/{app}/job/{job}/settings": {"get": op(
        "The job's settings: exclusive, time monitor, status notifications", "settings",
        {"200": answer("OK", ref("JobSettings"))}, ("404",))},
    "/{app}/job/{job}/settings/exclusive": {
        "put": op("Make the job exclusive (a manual run gets 409 while another is active)",
                  "settings", {"200": answer("OK", ref("JobDetail"))}, ("404",)),
        "delete": op("Make the job not exclusive", "settings",
                     {"200": answer("OK", ref("JobDetail"))}, ("404",))},
    "/{app}/job/{job}/settings/status-notification": {"put": op(
        "Add a status notification, or with `{\"db/id\": n}` remove that one", "settings", {
            "201": answer("Added", ref("StatusNotification")),
            "200": answer("Removed: the settings left", ref("JobSettings"))},
        ("400", "404", "413", "415"), body=json_body(
            {"anyOf": [ref("StatusNotificationRequest"), record_id()]},
            "Notify `type` when an execution moves to `batch-status` and/or ends with "
            "`exit-status` (both given: both must hold); or the id of one to remove"))},
    "/{app}/job/{job}/settings/time-monitor": {
        "put": op("Set the time monitor: act on an execution still running `duration` minutes "
                  "after it started (stored; survives restarts; cancelled when the execution "
                  "ends in time)", "settings", {"200": answer("OK", ref("JobSettings"))},
                  ("400", "404", "413", "415"), body=json_body(ref("TimeMonitorRequest"),
                                                               "The monitor")),
        "delete": op("Remove the time monitor (executions already armed keep theirs)",
                     "settings", {"200": answer("OK", ref("JobSettings"))}, ("404",))},
    "/{app}/job/{job}/notifications": {"get": op(
        "Every notification of the job (status notifications, time-monitor alerts): queued, "
        "delivered or given up, with each attempt's error; newest first", "settings",
        {"200": answer("OK", ref("DeliveryPage"))}, ("400", "404"),
        parameters=[query("execution", "Only this execution's.", {"type": "integer"})]
        + paging())},
    "/{app}/job/{job}/executions": {
        "get": op("The job's executions, newest first", "executions", {
            "200": answer("OK", ref("ExecutionPage"))}, ("400", "404"),
            parameters=[query("batch-status", "Only executions in these statuses, "
                              "comma-separated (e.g. queued,started); hits counts them.",
                              {"type": "string"})] + paging()),
        "post": op("Run the job now", "executions", {
            "201": answer("Created", ref("Execution"), headers=LOCATION)},
            ("400", "404", "409", "413", "415"),
            body=json_body(ref("JobParameters"), "Job parameters (optional)", required=False)),
        "delete": op("Purge the job's ended instances with their steps and logs",
                     "executions", {"204": answer("Purged", headers={
                         "X-Deleted-Executions": "How many executions went",
                         "X-Kept-Executions": "How many (still active) stayed"})}, ("404",))},
    EXECUTION: {"get": op("One execution with its steps and logs", "executions", {
        "200": answer("OK", ref("ExecutionDetail"))}, ("404",))},
    f"{EXECUTION}/restart": _execution_command(
        "restart", "201", "Restart a failed or stopped execution where it left off"),
    f"{EXECUTION}/stop": _execution_command("stop", "202", "Stop a running execution"),
    f"{EXECUTION}/abandon": _execution_command("abandon", "200",
                                               "Abandon an execution that does not run"),
    f"{EXECUTION}/alert": _execution_command(
        "alert", "202", "Send the job's time-monitor alert for this execution now (409 when "
                        "the job has no time monitor with a notification type)"),
    f"{EXECUTION}/logs": {"get": op("Every line the execution's steps printed or logged",
                                    "executions", {"200": answer("OK", ref("LogPage"))},
                                    ("400", "404"), parameters=[
                                        query("step", "Only this step's lines.")] + paging())},
}

AGENT = "/agent/{instance_id}"
SIGNED_ERRORS = {
    "401": answer("unsigned where a signature is required, stale, replayed or wrongly signed "
                  "(docs/protocol.md, Signing)", ref("Messages")),
    "403": answer("the agent is revoked", ref("Messages"))}
SCHEDULE = "/{app}/job/{job}/schedule"


def _schedule_command(summary: str) -> dict[str, Any]:
    return {"put": op(summary, "schedules", {"200": answer("OK", ref("Schedule"))}, ("404",))}


def _agent_block(summary: str) -> dict[str, Any]:
    return {"put": op(summary, "agents", {"200": answer("The agent", ref("Agent"))}, ("404",))}


AGENT_PATHS: dict[str, Any] = {
    "/agents": {"get": op("The agents", "agents", {
        "200": answer("OK", {"type": "array", "items": ref("Agent")})})},
    AGENT: {"get": op("One agent with its recent executions", "agents", {
        "200": answer("OK", ref("AgentDetail"))}, ("404",))},
    f"{AGENT}/block": _agent_block("Dispatch nothing new to the agent (idempotent, stored)"),
    f"{AGENT}/unblock": _agent_block("Dispatch to the agent again (idempotent)"),
    f"{AGENT}/monitor/{{kind}}": {"get": op(
        "The agent's memory or CPU history", "agents", {"200": answer("OK", ref("AgentMonitor"))},
        ("400", "404"), parameters=[
            query("since", "Only samples taken from then on (RFC 3339).",
                  {"type": "string", "format": "date-time"}),
            query("limit", "Only the newest so many samples.",
                  {"type": "integer", "minimum": 1})])},
    f"{AGENT}/heartbeat": {"post": op("An agent reports itself (docs/protocol.md)", "protocol", {
        "200": answer("OK (a pending agent's answer may carry its enrollment)",
                      ref("HeartbeatAnswer")), **SIGNED_ERRORS}, ("400", "413", "415"),
        body=json_body(ref("AgentDocument")))},
    f"{AGENT}/events": {"post": op("An agent sends execution events (docs/protocol.md)",
                                   "protocol", {"200": answer("Stored", ref("EventsAnswer")),
                                                **SIGNED_ERRORS},
                                   ("400", "404", "413", "415"),
                                   body=json_body(ref("AgentEvents")))},
    f"{AGENT}/approve": {"put": op(
        "Approve a pending agent (or the new key of an enrolled one): it enrolls at its next "
        "heartbeat (idempotent)", "agents", {"200": answer("The agent", ref("AgentTrusted"))},
        ("404", "409"))},
    "/agents/join-tokens": {
        "post": op("Create a join token (shown in this answer only; stored as a hash)",
                   "agents", {"201": answer("Created", ref("JoinTokenCreated"))}, ("400",),
                   body={"required": False, "content": {"application/json": {
                       "schema": ref("JoinTokenRequest")}}}),
        "get": op("The join tokens, without the tokens themselves", "agents", {
            "200": answer("OK", {"type": "array", "items": ref("JoinToken")})})},
    "/agents/join-token/{token_id}": {"delete": op(
        "Delete a join token: it can no longer be used", "agents",
        {"204": answer("Deleted")}, ("404",))},
}
AGENT_PATHS[AGENT] = {**AGENT_PATHS[AGENT], "delete": op(
    "Revoke the agent: no more work; its heartbeats and events get 403; its secret is deleted",
    "agents", {"200": answer("The revoked agent", ref("AgentTrusted"))}, ("404",))}

SCHEDULE_PATHS: dict[str, Any] = {
    SCHEDULE: {
        "post": op("Schedule the job (replaces its schedule)", "schedules", {
            "201": answer("Created", ref("Schedule"), headers=LOCATION)},
            ("400", "404", "413", "415"), body=json_body(ref("ScheduleRequest"))),
        "get": op("The job's schedule", "schedules", {"200": answer("OK", ref("Schedule"))},
                  ("404",)),
        "delete": op("Unschedule the job", "schedules", {"204": answer("Deleted")}, ("404",))},
    f"{SCHEDULE}/pause": _schedule_command("Pause the schedule"),
    f"{SCHEDULE}/resume": _schedule_command("Resume the schedule"),
    f"{SCHEDULE}/fires": {"get": op("The schedule's next fires, calendars applied", "schedules", {
        "200": answer("OK", ref("Fires"))}, ("400", "404"), parameters=[
            query("n", "How many fires.",
                  {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}),
            query("from", "Fires after this time (RFC 3339; default now).",
                  {"type": "string", "format": "date-time"})])},
    f"{SCHEDULE}/history": {"get": op("The schedule's ledger of fired and missed slots",
                                      "schedules", {"200": answer("OK", ref("FireSlotPage"))},
                                      ("400", "404"), parameters=paging())},
}

CALENDAR_PATHS: dict[str, Any] = {
    "/calendars": {
        "get": op("The business calendars", "calendars", {
            "200": answer("OK", {"type": "array", "items": ref("Calendar")})},
            parameters=[query("sort-by", "`name:desc` for the reverse order.")]),
        "post": op("Create or replace a calendar", "calendars", {
            "201": answer("Created", ref("Calendar"), headers=LOCATION),
            "200": answer("Replaced", ref("Calendar"), headers=LOCATION)},
            ("400", "413", "415"), body=json_body(ref("CalendarRequest")))},
    "/calendars/download": {"get": op("Every calendar as one file", "calendars", {
        "200": answer("OK", {"type": "array", "items": ref("Calendar")},
                      media="application/force-download",
                      headers={"Content-Disposition": "attachment; filename=\"cals.json\" "
                                                      "(JSON) or filename=\"cals.edn\" (an "
                                                      "EDN vector, for a client preferring "
                                                      "application/edn)"})}, ("406",))},
    "/calendar/{name}": {
        "get": op("One calendar", "calendars", {"200": answer("OK", ref("Calendar"))}, ("404",)),
        "put": op("Replace a calendar", "calendars", {"200": answer("OK", ref("Calendar"))},
                  ("400", "404", "413", "415"), body=json_body(ref("CalendarRequest"))),
        "delete": op("Delete a calendar (400 while a job's schedule uses it)", "calendars",
                     {"204": answer("Deleted")}, ("400", "404"))},
}

DRY_RUN_PATHS: dict[str, Any] = {
    "/{app}/test-executions": {"post": op(
        "Dry-run a job document: run it on an agent with every component a no-op",
        "test-executions", {"201": answer("Created: the test execution (starting; failed at "
                                          "once when no agent can run it)",
                                          ref("TestExecution"), headers=LOCATION)},
        ("400", "404", "413", "415"),
        body=_document_body("A job document (JSON, EDN or Job XML by Content-Type), read and "
                            "checked as `POST /{app}/jobs` does."),
        description="Each step's batchlet or chunk becomes a no-op batchlet, listeners are "
                    "dropped, a partition mapper becomes a one-partition plan, a decision "
                    "decides the exit status of the element before it; transitions, flows "
                    "and splits are kept. The test execution ends within `dryrun.timeout` "
                    "seconds.")},
    "/test-execution/{test_id:int}": {
        "get": op("A test execution: status, agent, times, steps run, messages",
                  "test-executions", {"200": answer("OK", ref("TestExecution"))}, ("404",)),
        "delete": op("Delete a test execution", "test-executions", {"204": answer("Deleted")},
                     ("404",))},
}

PATHS: dict[str, Any] = {**STATUS_PATHS, **APP_PATHS, **JOB_PATHS, **AGENT_PATHS,
                         **SCHEDULE_PATHS, **CALENDAR_PATHS, **DRY_RUN_PATHS}

# What each path parameter is, by falcon's field name.
PATH_PARAMETERS = {
    "name": "An application's name (`/app/...`) or a calendar's name (`/calendar/...`).",
    "app": "The application's name.", "job": "The job's name.",
    "execution_id": "The execution's id.", "instance_id": "The agent's instance id.",
    "kind": "`memory` or `cpu`.", "sha256": "The file's SHA-256, hex.",
    "test_id": "The test execution's id.", "user_id": "The user's id.",
}
