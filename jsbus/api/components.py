"""``/{app}/batch-components``: upload artifacts, list the components found in the classpath;
``/artifacts/{sha256}``: the stored file, for agents."""
from __future__ import annotations

import falcon

from jsbus.agentauth import NotSigned

from jsbus.api import render
from jsbus.artifacts import merge_classpath
from jsbus.components import components_of
from jsbus.errors import ApplicationNotFound, NotFound, PayloadTooLarge, ValidationError
from jsbus.model import Application


class ArtifactNotFound(NotFound):
    kind = "artifact"


class BatchComponentsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        application = self.bus.storage.get_application(app)
        resp.media = components_of(self.bus, application)

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        """Multipart upload of one or more wheels, zips or jars (parts named ``file``). All of
        them or none: an application revision is made only when every file passed."""
        limits = self.bus.artifacts.limits
        if req.content_length is not None and req.content_length > limits.upload_bytes:
            raise PayloadTooLarge(f"the upload is {req.content_length} bytes, more than "
                                  f"apps.max_upload_bytes ({limits.upload_bytes})")
        if (req.content_type or "").split(";")[0].strip().lower() != falcon.MEDIA_MULTIPART:
            raise ValidationError("file: send multipart/form-data with one or more parts "
                                  "named 'file'")
        storage, received = self.bus.storage, []
        try:
            for part in req.get_media():
                if part.name != "file":
                    part.stream.read()  # skip it, read to its end
                    continue
                received.append(self.bus.artifacts.receive(part.filename, part.stream))
            if not received:
                raise ValidationError("file: no part named 'file' in the upload")
        except BaseException:
            for artifact in received:  # all or nothing: drop what this upload brought
                if storage.get_artifact(artifact.sha256) is None:
                    self.bus.artifacts.discard(artifact)
            raise
        try:
            current = storage.get_application(app)
        except ApplicationNotFound:
            current = Application(name=app, description="Uploaded batch components.")
        classpath = current.classpath
        for artifact in received:
            storage.save_artifact(artifact)
            classpath = merge_classpath(classpath, artifact, storage.get_artifact)
        saved = storage.save_application(Application(
            name=app, description=current.description, classpath=classpath))
        resp.status = falcon.HTTP_201
        resp.location = f"/app/{app}"
        resp.media = {**render.application(saved),
                      "artifacts": [render.artifact(a) for a in received]}


class ArtifactResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, sha256: str) -> None:
        """For enrolled agents only: the request must carry a valid signature."""
        try:
            trust = self.bus.trust.check(req, req.get_header("X-Jsbus-Agent") or "", b"")
        except NotSigned as exc:
            raise falcon.HTTPUnauthorized(description=str(exc)) from None
        if trust is None:
            raise falcon.HTTPUnauthorized(description="artifacts are sent to enrolled agents "
                                                      "only: the request must be signed")
        artifact = self.bus.storage.get_artifact(sha256)
        if artifact is None:
            raise ArtifactNotFound(sha256)
        path = self.bus.artifacts.path(sha256, artifact.filename)
        if not path.is_file():
            raise ArtifactNotFound(f"{sha256} (recorded, but its file is missing from "
                                   f"{self.bus.artifacts.directory})")
        resp.content_type = "application/octet-stream"
        resp.set_header("Content-Disposition", f'attachment; filename="{artifact.filename}"')
        resp.set_header("X-Checksum-Sha256", sha256)
        resp.set_stream(open(path, "rb"), path.stat().st_size)
