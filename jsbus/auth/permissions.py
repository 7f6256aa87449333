"""Who may do what: the original's permissions and roles, and the rule of every route.

A user holds roles per application (memberships); ``*`` stands for every application. A rule
names a permission and where it is looked for:

- ``app``: in the application of the route's ``{app}`` (or ``/app/{name}``) segment;
- ``any``: in any of the user's applications (what belongs to no application: calendars, the
  agents, a conversion; the original had one application, so every check was this one);
- ``global``: in the ``*`` membership only (managing applications, agents and users).

``ROUTES`` holds a rule for every method of every route; ``tests/unit/test_auth_routes.py``
fails when a route of the app has none, or when a rule names a route the app lacks.
"""
from __future__ import annotations

from dataclasses import dataclass

PERMISSIONS = ("read-job", "create-job", "update-job", "delete-job", "execute-job",
               "read-calendar", "create-calendar", "update-calendar", "delete-calendar",
               "manage-apps", "manage-agents", "manage-users")
_ALL = frozenset(PERMISSIONS)
ROLES: dict[str, frozenset[str]] = {  # the original's three, plus what only an admin does
    "admin": _ALL,
    "operator": frozenset({"read-job", "execute-job", "read-calendar", "create-calendar",
                           "update-calendar", "delete-calendar"}),
    "watcher": frozenset({"read-job", "read-calendar"}),
}


@dataclass(frozen=True)
class Rule:
    permission: str
    scope: str = "app"  # "app", "any" or "global"


PUBLIC = "public"  # no credentials needed
SIGNED_IN = "signed-in"  # any user (their own account)
AGENT = "agent"  # an agent's signed request: checked by jsbus.agentauth, not by user tokens


def app_(permission: str) -> Rule:
    return Rule(permission, "app")


def any_(permission: str) -> Rule:
    return Rule(permission, "any")


def admin(permission: str) -> Rule:
    return Rule(permission, "global")


JOB = "/{app}/job/{job}"
EXECUTION = JOB + "/execution/{execution_id:int}"
ROUTES: dict[str, dict[str, Rule | str]] = {
    "/version": {"GET": PUBLIC},
    "/healthcheck": {"GET": PUBLIC},
    "/auth": {"POST": PUBLIC, "DELETE": SIGNED_IN},
    "/account": {"GET": SIGNED_IN},
    "/users": {"GET": admin("manage-users")},
    "/user": {"POST": admin("manage-users")},
    "/user/{user_id}": {"GET": admin("manage-users"), "PUT": admin("manage-users"),
                        "DELETE": admin("manage-users")},
    "/openapi.json": {"GET": any_("read-job")},
    "/schemas/job.json": {"GET": any_("read-job")},
    "/apps": {"GET": any_("read-job"), "POST": admin("manage-apps")},
    "/app/{name}": {"GET": app_("read-job"), "DELETE": admin("manage-apps")},
    "/app/{name}/builtins": {"GET": app_("read-job"), "PUT": admin("manage-apps")},
    "/artifacts/{sha256}": {"GET": AGENT},
    "/{app}/batch-components": {"GET": app_("read-job"), "POST": admin("manage-apps")},
    "/agents": {"GET": any_("read-job")},
    "/agents/join-tokens": {"GET": admin("manage-agents"), "POST": admin("manage-agents")},
    "/agents/join-token/{token_id}": {"DELETE": admin("manage-agents")},
    "/agent/{instance_id}": {"GET": any_("read-job"), "DELETE": admin("manage-agents")},
    "/agent/{instance_id}/heartbeat": {"POST": AGENT},
    "/agent/{instance_id}/events": {"POST": AGENT},
    "/agent/{instance_id}/approve": {"PUT": admin("manage-agents")},
    "/agent/{instance_id}/block": {"PUT": admin("manage-agents")},
    "/agent/{instance_id}/unblock": {"PUT": admin("manage-agents")},
    "/agent/{instance_id}/monitor/{kind}": {"GET": any_("read-job")},
    "/{app}/stats": {"GET": app_("read-job")},
    "/{app}/jobs": {"GET": app_("read-job"), "POST": app_("create-job")},
    "/{app}/jobs/download": {"GET": app_("read-job")},
    "/jobs/convert": {"POST": any_("read-job")},
    JOB: {"GET": app_("read-job"), "PUT": app_("update-job"), "DELETE": app_("delete-job")},
    JOB + "/document": {"GET": app_("read-job")},
    JOB + "/settings": {"GET": app_("read-job")},
    JOB + "/settings/{setting}": {"PUT": app_("update-job"), "DELETE": app_("delete-job")},
    JOB + "/notifications": {"GET": app_("read-job")},
    JOB + "/schedule": {"GET": app_("read-job"), "POST": app_("execute-job"),
                        "DELETE": app_("execute-job")},
    JOB + "/schedule/{command}": {"GET": app_("read-job"), "PUT": app_("execute-job")},
    "/calendars": {"GET": any_("read-calendar"), "POST": any_("create-calendar")},
    "/calendars/download": {"GET": any_("read-calendar")},
    "/calendar/{name}": {"GET": any_("read-calendar"), "PUT": any_("update-calendar"),
                         "DELETE": any_("delete-calendar")},
    JOB + "/executions": {"GET": app_("read-job"), "POST": app_("execute-job"),
                          "DELETE": app_("delete-job")},
    EXECUTION: {"GET": app_("read-job")},
    EXECUTION + "/{command}": {"GET": app_("read-job"), "PUT": app_("execute-job")},
    "/{app}/test-executions": {"POST": app_("execute-job")},
    "/test-execution/{test_id:int}": {"GET": any_("execute-job"),
                                      "DELETE": any_("execute-job")},
}


def rule_for(template: str | None, method: str) -> Rule | str | None:
    """The rule of ``method`` on the route ``template``; None when there is none (refused)."""
    return ROUTES.get(template or "", {}).get(method)


def permissions_of(memberships: dict[str, tuple[str, ...]], app: str) -> frozenset[str]:
    """What the roles of ``app``'s membership and of the ``*`` membership allow there."""
    granted: set[str] = set()
    for scope in {app, "*"}:
        for role in memberships.get(scope, ()):
            granted |= ROLES.get(role, frozenset())
    return frozenset(granted)


def allowed(memberships: dict[str, tuple[str, ...]], rule: Rule, app: str | None) -> bool:
    if rule.scope == "global":
        return rule.permission in permissions_of(memberships, "*")
    if rule.scope == "app" and app is not None:
        return rule.permission in permissions_of(memberships, app)
    return any(rule.permission in permissions_of(memberships, scope) for scope in memberships)
