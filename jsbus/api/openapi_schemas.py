"""The schemas (``components/schemas``) of ``GET /openapi.json``: the answers ``render`` and the
resources write, and the bodies they read. Answers list their keys as required, so a renamed
key shows; every object allows further keys, so adding one breaks no client."""
from __future__ import annotations

from typing import Any

from jsbus.api.openapi_parts import JOB_SCHEMA, nullable, ref
from jsbus.jsl import JOB_ID_PATTERN

STRING = {"type": "string"}
TEXT = nullable(STRING)
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
MAYBE_TIME = nullable(TIME)
STRINGS = {"type": "array", "items": STRING}
BATCH_STATUS = {"type": "string", "pattern": "^batch-status/[a-z]+$",
                "examples": ["batch-status/completed"]}


def record(properties: dict[str, Any], optional: tuple[str, ...] = (),
           description: str = "") -> dict[str, Any]:
    """An object whose keys are all required except ``optional``; more keys are allowed."""
    schema = {"type": "object", "properties": properties,
              "required": [key for key in properties if key not in optional]}
    if description:
        schema["description"] = description
    return schema


def page_of(item: dict[str, Any], description: str) -> dict[str, Any]:
    return record({"results": {"type": "array", "items": item},
                   "hits": {"type": "integer", "minimum": 0, "description": "results in all"},
                   "limit": INTEGER,
                   "offset": {"type": "integer", "minimum": 0, "description": "from 0"}},
                  description=description)


def extended(base: str, properties: dict[str, Any], optional: tuple[str, ...] = (),
             description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"allOf": [ref(base), record(properties, optional)]}
    if description:
        schema["description"] = description
    return schema


ANSWERS: dict[str, Any] = {
    "Messages": record({"messages": {"type": "array", "items": STRING, "minItems": 1}},
                       description="Every error answer (4xx, 5xx)."),
    "Version": record({"version": STRING}),
    "Health": record({"status": {"const": "ok"}, "role": {"enum": ["leader", "follower"]},
                      "version": STRING}, optional=("version",)),
    "Stats": record({"agents": INTEGER, "jobs": INTEGER},
                    description="Ready agents and the application's jobs."),
    "Application": record({"application/name": STRING, "application/description": STRING,
                           "application/classpaths": STRINGS,
                           "application/revision": INTEGER,
                           "application/builtins": {
                               "type": "array", "items": {"enum": ["shell", "java-main"]},
                               "description": "The restricted built-in batchlets its jobs "
                                              "may use (PUT /app/{name}/builtins)."}},
                          optional=("application/builtins",)),
    "AppBuiltins": record({"application/name": STRING, "application/builtins": {
        "type": "array", "items": {"enum": ["shell", "java-main"]}}}),
    "DeletedApplication": record({"application/name": STRING, "deleted-jobs": STRINGS}),
    "Artifact": record({"artifact/sha256": STRING, "artifact/filename": STRING,
                        "artifact/size": INTEGER, "artifact/kind": STRING,
                        "artifact/distribution": TEXT, "artifact/version": TEXT,
                        "artifact/entry": STRING}),
    "Upload": extended("Application", {"artifacts": {"type": "array",
                                                     "items": ref("Artifact")}}),
    "BatchComponents": {
        **record({"batch-component/batchlet": STRINGS,
                  "batch-component/application": record({"application/name": STRING,
                                                         "application/revision": INTEGER}),
                  "batch-component/details": {"type": "array", "items": record(
                      {"kind": STRING, "ref": STRING, "class": TEXT, "language": TEXT,
                       "entry": TEXT})},
                  "batch-component/problems": STRINGS},
                 description="Component refs by kind (`batch-component/batchlet`, "
                             "`batch-component/item-reader`, ...), built-ins first; where "
                             "each was found; what could not be scanned."),
        "additionalProperties": STRINGS},
    "JobStats": record({"total": INTEGER, "success": INTEGER, "failure": INTEGER,
                        "average": {"type": "number", "description": "milliseconds"}}),
    "Job": record({"job/name": STRING, "job/app": STRING, "job/restartable?": BOOLEAN,
                   "job/steps": STRINGS}),
    "NextExecution": record({"job-execution/start-time": TIME}),
    "TimeMonitor": record({
        "time-monitor/duration": {"type": "integer", "minimum": 1, "description": "minutes"},
        "time-monitor/action": {"enum": ["action/alert", "action/stop", "action/abandon"]},
        "time-monitor/notification-type": TEXT}),
    "StatusNotification": record({
        "db/id": INTEGER, "status-notification/type": STRING,
        "status-notification/batch-status": nullable(BATCH_STATUS),
        "status-notification/exit-status": TEXT}),
    "JobSettings": record({
        "job/exclusive?": BOOLEAN, "job/time-monitor": nullable(ref("TimeMonitor")),
        "job/status-notifications": {"type": "array", "items": ref("StatusNotification")}}),
    "Delivery": record({
        "delivery/id": INTEGER, "delivery/type": STRING,
        "delivery/event": {"enum": ["status", "time-monitor", "alert"]},
        "delivery/execution-id": nullable(INTEGER),
        "delivery/state": {"enum": ["pending", "delivered", "failed"]},
        "delivery/attempts": INTEGER, "delivery/last-error": TEXT,
        "delivery/created-at": TIME, "delivery/next-attempt-at": MAYBE_TIME,
        "delivery/delivered-at": MAYBE_TIME, "delivery/payload": {"type": "object"}},
        description="One notification, and how sending it went."),
    "DeliveryPage": page_of(ref("Delivery"), "Notifications, newest first."),
    "JobDetail": {"allOf": [ref("Job"), ref("JobSettings"), record({
        "job/stats": ref("JobStats"), "job/latest-execution": nullable(ref("Execution")),
        "job/schedule": nullable(ref("Schedule")),
        "job/next-execution": nullable(ref("NextExecution")),
        "job/document": {"$ref": JOB_SCHEMA}})]},
    "SavedJob": extended("JobDetail", {"job/warnings": STRINGS},
                         description="A registered or replaced job, with what looks wrong."),
    "JobListItem": extended("Job", {
        "job/latest-execution": nullable(ref("Execution")),
        "job/next-execution": nullable(ref("NextExecution")),
        "job/schedule": nullable(ref("Schedule")),
        "job/executions": {"type": "array", "items": record(
            {"job-execution/batch-status": {"const": "batch-status/registered"},
             "job-execution/start-time": TIME})},
        "job/exclusive?": BOOLEAN, "job/document": {"$ref": JOB_SCHEMA},
        "job/time-monitor": nullable(ref("TimeMonitor")),
        "job/status-notifications": {"type": "array", "items": ref("StatusNotification")}},
        optional=("job/latest-execution", "job/next-execution", "job/schedule",
                  "job/executions", "job/exclusive?", "job/document", "job/time-monitor",
                  "job/status-notifications"),
        description="The parts `with` asks for."),
    "JobPage": page_of(ref("JobListItem"), "Jobs, paged."),
    "ExportedJob": record({"job/name": STRING, "job/document": {"$ref": JOB_SCHEMA},
                           "job/exclusive?": BOOLEAN,
                           "job/schedule": nullable(ref("ScheduleRequest")),
                           "job/time-monitor": nullable(ref("TimeMonitor")),
                           "job/status-notifications": {"type": "array", "items": record({
                               "status-notification/type": STRING,
                               "status-notification/batch-status": nullable(BATCH_STATUS),
                               "status-notification/exit-status": TEXT})}},
                          optional=("job/exclusive?", "job/schedule", "job/time-monitor",
                                    "job/status-notifications"),
                          description="One job of `GET /{app}/jobs/download` (a key left out "
                                      "of an import leaves that setting as it is)."),
    "ImportResult": record({"created": STRINGS, "replaced": STRINGS}),
    "ExecutionAgent": record({"agent/instance-id": STRING, "agent/name": TEXT}),
    "Execution": record({
        "job-execution/execution-id": INTEGER, "job-execution/app": STRING,
        "job-execution/job-name": STRING, "job-execution/batch-status": BATCH_STATUS,
        "job-execution/create-time": MAYBE_TIME, "job-execution/start-time": MAYBE_TIME,
        "job-execution/end-time": MAYBE_TIME, "job-execution/exit-status": TEXT,
        "job-execution/job-parameters": {"type": "object", "additionalProperties": STRING},
        "job-execution/agent": nullable(ref("ExecutionAgent")),
        "job-execution/job-instance-id": nullable(INTEGER),
        "job-execution/restarted-from": nullable(INTEGER),
        "job-execution/attempt": {"type": "integer", "minimum": 1,
                                  "description": "1, then one more each time the execution "
                                                 "was moved to another agent"},
        "job-execution/restart-position": {"description": "where a restart resumes"},
        "job-execution/slot": MAYBE_TIME, "job-execution/revision": nullable(INTEGER),
        "job-execution/not-before": MAYBE_TIME}),
    "ExecutionDetail": extended("Execution", {
        "job-execution/step-executions": {"type": "array", "items": ref("StepExecution")},
        "job-execution/logs": {"type": "array", "items": ref("LogRecord"),
                               "description": "lines logged outside any step"}}),
    "ExecutionPage": page_of(ref("Execution"), "Executions, newest first, paged."),
    "StepExecution": record({
        "step-execution/step-execution-id": INTEGER, "step-execution/metrics": {"type": "object"},
        "step-execution/persistent-user-data": {}, "step-execution/step-name": STRING,
        "step-execution/batch-status": BATCH_STATUS, "step-execution/start-time": MAYBE_TIME,
        "step-execution/end-time": MAYBE_TIME, "step-execution/exit-status": TEXT,
        "step-execution/logs": {"type": "array", "items": ref("LogRecord")}}),
    "LogRecord": record({"execution-log/date": TIME,
                         "execution-log/level": {"type": "string",
                                                 "pattern": "^log-level/[a-z]+$"},
                         "execution-log/logger": TEXT, "execution-log/message": STRING,
                         "execution-log/exception": TEXT}),
    "LogPage": page_of(extended("LogRecord", {"execution-log/step-name": TEXT}),
                       "Log lines, paged."),
    "Agent": record({
        "agent/instance-id": STRING, "agent/name": TEXT, "agent/host": TEXT,
        "agent/port": nullable(INTEGER), "agent/agent-version": TEXT, "agent/os-name": TEXT,
        "agent/os-version": TEXT, "agent/cpu-arch": TEXT, "agent/cpu-core": nullable(INTEGER),
        "agent/capacity": nullable(INTEGER),
        "agent/jobs": record({"running": INTEGER}), "agent/stats": nullable({"type": "object"}),
        "agent/status": {"enum": ["ready", "lost", "pending", "revoked"]},
        "agent/last-seen": MAYBE_TIME,
        "agent/blocked": BOOLEAN}),
    "AgentDetail": extended("Agent", {"agent/executions": {"type": "array",
                                                           "items": ref("Execution")},
                                      "agent/enrollment": ref("Enrollment")},
                            description="An agent with its 20 most recent executions."),
    "Enrollment": record({"state": {"enum": ["pending", "approved", "enrolled", "revoked"]},
                          "key-change-requested?": BOOLEAN, "via": STRING}, ("via",),
                         description="approved: the secret waits for the agent's next "
                                     "heartbeat; enrolled: the agent signs with it."),
    "AgentTrusted": extended("Agent", {"agent/enrollment": ref("Enrollment")}),
    "JoinToken": record({"join-token/id": INTEGER, "join-token/created-at": TIME,
                         "join-token/expires-at": TIME, "join-token/single-use?": BOOLEAN,
                         "join-token/used-at": MAYBE_TIME, "join-token/note": STRING}),
    "JoinTokenCreated": extended("JoinToken", {
        "join-token": {"type": "string", "description": "The token: shown this once"},
        "expires-at": TIME, "single-use?": BOOLEAN}),
    "AgentMonitor": record({"agent/instance-id": STRING, "type": {"enum": ["memory", "cpu"]},
                            "series": {"type": "array", "items": record(
                                {"time": TIME, "values": {"type": "object"}})}},
                           description="Samples, oldest first."),
    "HeartbeatAnswer": record({"heartbeat-interval": {"type": "number"},
                               "lease": {"type": "number"},
                               "agent/status": {"enum": ["ready", "pending"]},
                               "enrollment": record({"bus-id": STRING, "sealed-secret": {
                                   "type": "string", "description": "base64 of the secret "
                                   "sealed (NaCl SealedBox) to agent/public-key"}})},
                              ("agent/status", "enrollment")),
    "EventsAnswer": record({"applied": INTEGER}),
    "Schedule": record({
        "schedule/cron-notation": STRING, "schedule/active?": BOOLEAN,
        "schedule/calendar": nullable(record({"calendar/name": STRING})),
        "schedule/substitution?": BOOLEAN, "schedule/time-zone": STRING,
        "schedule/misfire-policy": {"enum": ["fire-once-now", "skip", "fire-all"]},
        "schedule/overlap-policy": {"enum": ["allow", "skip", "queue-one"]},
        "schedule/last-slot": MAYBE_TIME}),
    "Fire": record({"fire/time": TIME, "fire/local-time": STRING, "fire/moved-from": TIME,
                    "fire/excluded": {}, "fire/dst": {}},
                   optional=("fire/moved-from", "fire/excluded", "fire/dst")),
    "Fires": record({"schedule": ref("Schedule"), "from": TIME,
                     "fires": {"type": "array", "items": ref("Fire")}}),
    "FireSlot": record({"fire-slot/time": TIME, "fire-slot/status": {"enum": ["fired", "missed"]},
                        "fire-slot/reason": TEXT, "fire-slot/execution-id": nullable(INTEGER),
                        "fire-slot/recorded-at": MAYBE_TIME}),
    "FireSlotPage": page_of(ref("FireSlot"), "The schedule's ledger, paged."),
    "Calendar": record({"calendar/name": STRING, "calendar/holidays": STRINGS,
                        "calendar/weekly-holiday": {"type": "array", "items": BOOLEAN,
                                                    "minItems": 7, "maxItems": 7},
                        "calendar/day-start": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"}}),
    "TestExecution": record({
        "test-execution/id": INTEGER, "test-execution/app": STRING,
        "test-execution/job-name": STRING, "test-execution/batch-status": BATCH_STATUS,
        "test-execution/exit-status": TEXT,
        "test-execution/agent": nullable(ref("ExecutionAgent")),
        "test-execution/create-time": TIME, "test-execution/start-time": MAYBE_TIME,
        "test-execution/end-time": MAYBE_TIME,
        "test-execution/step-executions": {"type": "array", "items": record({
            "step-execution/step-name": STRING, "step-execution/batch-status": BATCH_STATUS,
            "step-execution/exit-status": TEXT, "step-execution/start-time": MAYBE_TIME,
            "step-execution/end-time": MAYBE_TIME}), "description": "the steps that ran"},
        "test-execution/messages": STRINGS,
        "test-execution/log-message": nullable(STRING),
        "test-execution/log-exception": nullable(STRING)},
        description="A dry run (the original's test-execution state map)."),
}


def either(short: str, long: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [short]}, {"required": [long]}]}


REQUESTS: dict[str, Any] = {
    "JoinTokenRequest": record({"ttl": {"type": "number", "exclusiveMinimum": 0,
                                        "maximum": 31536000, "description": "seconds (3600)"},
                                "single-use?": BOOLEAN,
                                "note": {"type": "string", "maxLength": 200}},
                               ("ttl", "single-use?", "note")),
    "ApplicationRequest": {
        "type": "object", "description": "Either vocabulary works, key by key.",
        "properties": {"name": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
                       "description": STRING,
                       "classpath": {"type": "array", "items": STRING,
                                     "description": "file:// URLs, or uploaded artifacts as "
                                                    "sha256:<hex>/<file name>"},
                       "application/name": STRING, "application/description": STRING,
                       "application/classpaths": STRINGS},
        "allOf": [either("name", "application/name"),
                  either("classpath", "application/classpaths")]},
    "ScheduleRequest": {
        "type": "object", "description": "Keys with or without the `schedule/` prefix.",
        "properties": {"schedule/cron-notation": {"type": "string",
                                                  "examples": ["0 0 12 * * ?"],
                                                  "description": "Quartz cron, seconds first"},
                       "schedule/calendar": {"anyOf": [STRING, {"type": "null"},
                                                       record({"calendar/name": STRING})]},
                       "schedule/substitution?": BOOLEAN,
                       "schedule/time-zone": {"type": "string", "examples": ["Europe/Berlin"]},
                       "schedule/misfire-policy": {"enum": ["fire-once-now", "skip",
                                                            "fire-all"]},
                       "schedule/overlap-policy": {"enum": ["allow", "skip", "queue-one"]},
                       "schedule/active?": {"type": "boolean",
                                            "description": "imports only"}},
        "allOf": [either("cron-notation", "schedule/cron-notation")]},
    "CalendarRequest": {
        "type": "object", "description": "Keys with or without the `calendar/` prefix; the "
                                         "name comes from the path on PUT.",
        "properties": {"calendar/name": STRING,
                       "calendar/holidays": {"type": "array",
                                             "items": {"type": "string", "format": "date"}},
                       "calendar/weekly-holiday": {
                           "type": "array", "items": BOOLEAN, "minItems": 7, "maxItems": 7,
                           "description": "Sunday first"},
                       "calendar/day-start": {"type": "string", "examples": ["00:00"]}}},
    "JobParameters": {"type": "object", "description": "JSR-352 job parameters; numbers "
                                                       "and booleans become strings.",
                      "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "StatusNotificationRequest": {"type": "object", "required": ["status-notification/type"],
                                  "properties": {
                                      "status-notification/type": STRING,
                                      "status-notification/batch-status": BATCH_STATUS,
                                      "status-notification/exit-status": STRING}},
    "TimeMonitorRequest": {"type": "object", "required": ["time-monitor/duration",
                                                          "time-monitor/action"],
                           "properties": {
                               "time-monitor/duration": {"type": "integer", "minimum": 1},
                               "time-monitor/action": {"enum": ["action/alert", "action/stop",
                                                                "action/abandon"]},
                               "time-monitor/notification-type": STRING}},
    "JobImport": {"type": "array", "items": {"anyOf": [ref("ExportedJob"),
                                                       {"$ref": JOB_SCHEMA}]},
                  "description": "What `GET /{app}/jobs/download` writes: all or none."},
    "AgentDocument": {"type": "object", "description": "docs/protocol.md",
                      "properties": {"agent/name": STRING, "agent/host": STRING,
                                     "agent/port": INTEGER, "agent/capacity": INTEGER,
                                     "agent/jobs": {"type": "object"},
                                     "agent/stats": {"type": "object"},
                                     "agent/public-key": {
                                         "type": "string", "description": "base64 of the "
                                         "agent's 32-byte Curve25519 public key"},
                                     "agent/join-token": STRING}},
    "AgentEvents": record({"events": {"type": "array", "items": {"type": "object"}}},
                          description="Execution events, in order (docs/protocol.md)."),
}

SCHEMAS: dict[str, Any] = {**ANSWERS, **REQUESTS}
