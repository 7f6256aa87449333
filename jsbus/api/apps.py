"""``/apps``: deploy (create or update) and list batch applications."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import falcon

from jsbus.auth.permissions import Rule, allowed

from jsbus.api.media import read_json, read_object
from jsbus.artifacts import parse_entry
from jsbus.api import render
from jsbus.components import RESTRICTED_BUILTINS
from jsbus.errors import ApplicationNotFound, ValidationError
from jsbus.jsl import JOB_ID_PATTERN
from jsbus.model import Application

# First path segments that are routes of their own, so no application may take them.
RESERVED_NAMES = frozenset({"apps", "app", "agents", "agent", "version", "healthcheck", "jobs",
                            "calendars", "calendar", "auth", "account", "users", "user",
                            "oauth", "test-executions", "test-execution", "openapi.json",
                            "schemas"})


def _field(body: dict, short: str, long: str):
    return body[long] if long in body else body.get(short)


JAVA_SUFFIXES = (".jar",)
PYTHON_SUFFIXES = (".whl", ".zip", ".py")


def classpath_entry(entry, where: str, allowed_roots: list[str] = (),
                    artifact_known=lambda sha: False) -> str:
    """A ``file://`` URL to an existing directory, wheel, zip, module or jar (inside
    ``allowed_roots`` when any are configured), normalised; or an uploaded artifact's
    ``sha256:<hex>/<name>``. ValidationError otherwise."""
    if not isinstance(entry, str):
        raise ValidationError(f"{where} must be a file:// URL string")
    artifact = parse_entry(entry)
    if artifact is not None:
        if not artifact_known(artifact[0]):
            raise ValidationError(f"{where}: no artifact was uploaded with SHA-256 "
                                  f"{artifact[0]}")
        return entry
    url = urlparse(entry)
    if url.scheme != "file" or url.netloc not in ("", "localhost"):
        raise ValidationError(f"{where} must be a file:// URL or an uploaded artifact "
                              f"(sha256:<hex>/<name>), not {entry!r}")
    path = Path(unquote(url.path))
    if not path.is_absolute():
        raise ValidationError(f"{where}: {path} is not an absolute path")
    path = path.resolve()
    if allowed_roots and not any(path.is_relative_to(Path(root).expanduser().resolve())
                                 for root in allowed_roots):
        raise ValidationError(f"{where}: {path} is outside apps.allowed_roots "
                              f"({', '.join(allowed_roots)})")
    if not (path.is_dir() or (path.is_file()
                              and path.suffix.lower() in PYTHON_SUFFIXES + JAVA_SUFFIXES)):
        raise ValidationError(f"{where}: {path} is not an existing directory, wheel, zip, "
                              f"Python module or jar")
    return path.as_uri()


def application_from_body(body: dict, allowed_roots: list[str] = (),
                          artifact_known=lambda sha: False) -> Application:
    name = _field(body, "name", "application/name")
    description = _field(body, "description", "application/description") or ""
    classpath = _field(body, "classpath", "application/classpaths")
    messages = []
    if not name:
        messages.append("name must be present")
    elif not isinstance(name, str) or not JOB_ID_PATTERN.match(name):
        messages.append(f"name must match {JOB_ID_PATTERN.pattern}")
    elif name in RESERVED_NAMES:
        messages.append(f"name {name!r} is reserved by the API")
    if not isinstance(description, str):
        messages.append("description must be a string")
    if _field(body, "builtins", "application/builtins") is not None:
        messages.append("application/builtins is set with PUT /app/{name}/builtins (admins "
                        "only), not with a deploy")
    entries = []
    if classpath is None:
        messages.append("classpath must be present")
    elif not isinstance(classpath, list):
        messages.append("classpath must be a list of file:// URLs")
    else:
        for index, entry in enumerate(classpath):
            try:
                entries.append(classpath_entry(entry, f"classpath[{index}]", allowed_roots,
                                               artifact_known))
            except ValidationError as exc:
                messages.extend(exc.messages)
    if messages:
        raise ValidationError(messages)
    return Application(name=name, description=description, classpath=tuple(entries))


def app_view(app: Application) -> dict:
    """``render.application`` and the restricted built-ins the application enabled."""
    return dict(render.application(app), **{"application/builtins": list(app.builtins)})


def builtins_from_body(body) -> tuple[str, ...]:
    """``{"application/builtins": ["shell", "java-main"]}`` (or a bare list): the restricted
    built-in batchlets to enable; ValidationError names what is wrong."""
    names = _field(body, "builtins", "application/builtins") if isinstance(body, dict) else body
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValidationError("application/builtins must be a list of names "
                              f"({', '.join(RESTRICTED_BUILTINS)})")
    unknown = [n for n in names if n not in RESTRICTED_BUILTINS]
    if unknown:
        raise ValidationError(f"application/builtins: {', '.join(map(repr, unknown))} "
                              f"not one of {', '.join(RESTRICTED_BUILTINS)} (the other "
                              f"built-ins need no setting)")
    return tuple(sorted(set(names)))


READ = Rule("read-job", "app")


class AppsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The applications whose jobs the user may read."""
        user = getattr(req.context, "user", None)
        resp.media = [app_view(app) for app in self.bus.storage.list_applications()
                      if user is None or allowed(user.memberships, READ, app.name)]

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        storage = self.bus.storage
        app = application_from_body(read_object(req, self.bus.config.get("bus.max_body_bytes")),
                                    self.bus.config.get("apps.allowed_roots"),
                                    lambda sha: storage.get_artifact(sha) is not None)
        try:
            self.bus.storage.get_application(app.name)
            created = False
        except ApplicationNotFound:
            created = True
        saved = self.bus.storage.save_application(app)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.location = f"/{saved.name}/jobs"
        resp.media = app_view(saved)


class AppResource:
    """``GET /app/{name}``; ``DELETE /app/{name}[?cascade=true]``."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = app_view(self.bus.storage.get_application(name))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        cascade = req.get_param_as_bool("cascade", default=False)
        jobs = self.bus.storage.delete_application(name, cascade=cascade)
        for job in jobs:
            self.bus.schedule_changed(name, job)
        resp.media = {"application/name": name, "deleted-jobs": jobs}


class AppBuiltinsResource:
    """``GET``/``PUT /app/{name}/builtins``: the restricted built-in batchlets (``shell``,
    ``java-main``) the application's jobs may use; ``PUT`` is for admins (``manage-apps``).
    Kept across deploys; none by default."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        app = self.bus.storage.get_application(name)
        resp.media = {"application/name": app.name, "application/builtins": list(app.builtins)}

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        body = read_json(req, self.bus.config.get("bus.max_body_bytes"))
        app = self.bus.storage.set_application_builtins(name, builtins_from_body(body))
        resp.media = app_view(app)
