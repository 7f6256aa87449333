"""``create_app(bus)``: the falcon application, with the original's paths and vocabulary."""
from __future__ import annotations

import falcon

from jsbus.agentauth import install as install_agent_trust
from jsbus.api import errors
from jsbus.api.agents import (AgentBlockResource, AgentMonitorResource, AgentResource,
                              AgentsResource, EventsResource, HeartbeatResource)
from jsbus.api.auth import AccountResource, AuthResource, UserResource, UsersResource
from jsbus.auth.middleware import AuthMiddleware
from jsbus.api.apps import AppBuiltinsResource, AppResource, AppsResource
from jsbus.api.convert import ConvertResource
from jsbus.api.cors import install as install_cors
from jsbus.api.dryrun import install as install_dryrun
from jsbus.api.edn_media import install as install_edn
from jsbus.api.media import LimitsMiddleware
from jsbus.api.openapi import install as install_openapi
from jsbus.api.components import ArtifactResource, BatchComponentsResource
from jsbus.api.calendars import CalendarResource, CalendarsResource
from jsbus.api.executions import (ExecutionCommandResource, ExecutionResource,
                                  ExecutionsResource)
from jsbus.api.jobs import JobDocumentResource, JobResource, JobsResource
from jsbus.api.notices import NotificationsResource
from jsbus.api.settings import JobSettingResource, JobSettingsResource
from jsbus.api.schedules import ScheduleCommandResource, ScheduleResource
from jsbus.api.status import HealthResource, JobSchemaResource, StatsResource, VersionResource


def create_app(bus) -> falcon.App:
    """Build the WSGI app over ``bus`` (a ``jsbus.bus.Bus``, started or not)."""
    app = falcon.App()
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    app.add_middleware(LimitsMiddleware(bus.config))  # [limits] for every body and query
    app.add_middleware(AuthMiddleware(bus.auth, list(bus.config.get("bus.cors_origins"))))
    app.add_route("/version", VersionResource())
    app.add_route("/healthcheck", HealthResource(bus))
    app.add_route("/auth", AuthResource(bus))
    app.add_route("/account", AccountResource(bus))
    users = UsersResource(bus)
    app.add_route("/users", users)
    app.add_route("/user", users, suffix="new")
    app.add_route("/user/{user_id}", UserResource(bus))
    app.add_route("/schemas/job.json", JobSchemaResource())
    app.add_route("/apps", AppsResource(bus))
    app.add_route("/app/{name}", AppResource(bus))
    app.add_route("/app/{name}/builtins", AppBuiltinsResource(bus))
    app.add_route("/artifacts/{sha256}", ArtifactResource(bus))
    app.add_route("/{app}/batch-components", BatchComponentsResource(bus))
    app.add_route("/agents", AgentsResource(bus))
    app.add_route("/agent/{instance_id}", AgentResource(bus))
    app.add_route("/agent/{instance_id}/heartbeat", HeartbeatResource(bus))
    app.add_route("/agent/{instance_id}/events", EventsResource(bus))
    app.add_route("/agent/{instance_id}/block", AgentBlockResource(bus, blocked=True))
    app.add_route("/agent/{instance_id}/unblock", AgentBlockResource(bus, blocked=False))
    app.add_route("/agent/{instance_id}/monitor/{kind}", AgentMonitorResource(bus))
    app.add_route("/{app}/stats", StatsResource(bus))
    jobs = JobsResource(bus)
    app.add_route("/{app}/jobs", jobs)
    app.add_route("/{app}/jobs/download", jobs, suffix="download")
    app.add_route("/jobs/convert", ConvertResource(bus))
    app.add_route("/{app}/job/{job}", JobResource(bus))
    app.add_route("/{app}/job/{job}/document", JobDocumentResource(bus))
    app.add_route("/{app}/job/{job}/settings", JobSettingsResource(bus))
    app.add_route("/{app}/job/{job}/settings/{setting}", JobSettingResource(bus))
    app.add_route("/{app}/job/{job}/notifications", NotificationsResource(bus))
    app.add_route("/{app}/job/{job}/schedule", ScheduleResource(bus))
    app.add_route("/{app}/job/{job}/schedule/{command}", ScheduleCommandResource(bus))
    calendars = CalendarsResource(bus)
    app.add_route("/calendars", calendars)
    app.add_route("/calendars/download", calendars, suffix="download")
    app.add_route("/calendar/{name}", CalendarResource(bus))
    app.add_route("/{app}/job/{job}/executions", ExecutionsResource(bus))
    app.add_route("/{app}/job/{job}/execution/{execution_id:int}", ExecutionResource(bus))
    app.add_route("/{app}/job/{job}/execution/{execution_id:int}/{command}",
                  ExecutionCommandResource(bus))
    install_dryrun(app, bus)
    install_agent_trust(app, bus)
    install_openapi(app)  # last but one: it describes every route above
    install_edn(app)  # JSON by default, EDN by Content-Type and Accept
    install_cors(app, list(bus.config.get("bus.cors_origins")))
    return app
