"""Applications, their revisions, and uploaded artifacts."""
from __future__ import annotations

from peewee import IntegrityError

from jsbus.errors import ApplicationNotFound, Conflict
from jsbus.model import Application, Artifact

from .base import StoreBase, storage_errors
from .convert import to_application


class ApplicationRecords(StoreBase):
    """The application and artifact methods of ``PeeweeStorage``."""

    @storage_errors
    def save_application(self, app: Application) -> Application:
        """Every save is a deploy: a new revision, whose classpath is kept for the executions
        created while it is current."""
        A, R = self.models.Application, self.models.AppRevision
        now = self.clock()
        with self.write_transaction():
            row = A.get_or_none(A.name == app.name)
            revision = 1 if row is None else row.revision + 1
            values = {"description": app.description, "classpath": list(app.classpath),
                      "updated_at": now, "revision": revision}
            if row is None:
                A.insert(name=app.name, created_at=app.created_at or now, **values).execute()
            else:
                A.update(**values).where(A.name == app.name).execute()
            R.insert(app=app.name, revision=revision, description=app.description,
                     classpath=list(app.classpath), created_at=now).execute()
            return self.get_application(app.name)

    @storage_errors
    def get_application(self, name: str, revision: int | None = None) -> Application:
        """The current revision, or ``revision`` (its classpath and description as deployed)."""
        R = self.models.AppRevision
        row = self.statements.first(self.models.Application, name=name)
        if row is None:
            raise ApplicationNotFound(name)
        current = to_application(row)
        if revision is None or revision == current.revision:
            return current
        old = R.get_or_none((R.app == name) & (R.revision == revision))
        if old is None:
            raise ApplicationNotFound(f"{name} revision {revision}")
        return Application(name=name, description=old.description,
                           classpath=tuple(old.classpath or ()), created_at=current.created_at,
                           updated_at=old.created_at, revision=old.revision,
                           builtins=current.builtins)

    @storage_errors
    def set_application_builtins(self, name: str, builtins: tuple[str, ...]) -> Application:
        """Enable exactly ``builtins`` (restricted built-in batchlets) for the application; not
        a deploy: the revision stays. ``ApplicationNotFound`` for an unknown name."""
        A = self.models.Application
        with self.write_transaction():
            if not A.update(builtins=sorted(set(builtins))).where(A.name == name).execute():
                raise ApplicationNotFound(name)
        return self.get_application(name)

    @storage_errors
    def list_applications(self) -> list[Application]:
        A = self.models.Application
        return [to_application(row) for row in A.select().order_by(A.name)]

    @storage_errors
    def delete_application(self, name: str, cascade: bool = False) -> list[str]:
        """Delete the application and its revisions; its jobs (with their executions and
        schedules) too when ``cascade``, else ``Conflict`` while it has jobs. Returns the names
        of the jobs deleted."""
        A, J, R = self.models.Application, self.models.Job, self.models.AppRevision
        with self.write_transaction():
            if not A.select().where(A.name == name).exists():
                raise ApplicationNotFound(name)
            jobs = [row.name for row in J.select(J.name).where(J.app == name).order_by(J.name)]
            if jobs and not cascade:
                raise Conflict(f"application {name} has {len(jobs)} job(s) ({', '.join(jobs[:5])}"
                               f"{', ...' if len(jobs) > 5 else ''}): delete them first, or "
                               f"ask for cascade=true")
            for job in jobs:
                self.delete_job(name, job)
            R.delete().where(R.app == name).execute()
            A.delete().where(A.name == name).execute()
            return jobs

    # -- artifacts ---------------------------------------------------------------------------
    @storage_errors
    def save_artifact(self, artifact: Artifact) -> Artifact:
        """Stored once per SHA-256: the same file uploaded again keeps its first record."""
        F = self.models.Artifact
        try:
            (F.insert(sha256=artifact.sha256, filename=artifact.filename, size=artifact.size,
                      kind=artifact.kind, distribution=artifact.distribution,
                      version=artifact.version, created_at=artifact.created_at or self.clock())
             .on_conflict_ignore().execute())
        except IntegrityError as exc:  # pragma: no cover - a race on the same hash
            raise Conflict(f"artifact {artifact.sha256}: {exc}") from exc
        return self.get_artifact(artifact.sha256)

    @storage_errors
    def get_artifact(self, sha256: str) -> Artifact | None:
        F = self.models.Artifact
        row = F.get_or_none(F.sha256 == sha256)
        if row is None:
            return None
        return Artifact(sha256=row.sha256, filename=row.filename, size=row.size, kind=row.kind,
                        distribution=row.distribution, version=row.version,
                        created_at=row.created_at)
