"""Job instances, restarts and checkpoints; job definitions in the JSL form.

- ``job_execution.instance_id`` (indexed with ``id``; an existing execution is its own instance),
  ``job_execution.restart_position`` and ``job_execution.restarted_from``;
- ``step_execution.metrics`` and ``step_execution.persistent_user_data`` (JSON text);
- the ``checkpoint`` table: one row per (instance, step, partition);
- an index on ``execution_log(execution_id, step_name, id)`` for one step's logs;
- ``job.definition`` rewritten from the flat shape of 0001 to the JSON form of ``docs/jsl.md``.

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
import json

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField,
                    TextField)


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class JobExecution(Base):  # a stub of the existing table: only its id is referenced
        class Meta:
            table_name = "job_execution"

    class Job(Base):
        app = CharField()
        name = CharField()
        definition = TextField()

    class Checkpoint(Base):
        instance = ForeignKeyField(JobExecution, column_name="instance_id", index=False,
                                    backref="+")
        step_name = CharField()
        partition = IntegerField(default=-1)
        reader = TextField(null=True)
        writer = TextField(null=True)
        persistent_user_data = TextField(null=True)
        metrics = TextField(default="{}")
        done = BooleanField(default=False)
        execution = ForeignKeyField(JobExecution, column_name="execution_id", null=True,
                                     backref="+")
        time = DateTimeField()

        class Meta:
            indexes = ((("instance_id", "step_name", "partition"), True),)

    return JobExecution, Job, Checkpoint


def up(migrator, db):
    _, Job, Checkpoint = _tables(db)
    migrator.migrate(
        migrator.add_column("job_execution", "instance_id", IntegerField(null=True)),
        migrator.add_column("job_execution", "restart_position", TextField(null=True)),
        migrator.add_column("job_execution", "restarted_from", IntegerField(null=True)),
        migrator.add_column("step_execution", "metrics", TextField(null=True)),
        migrator.add_column("step_execution", "persistent_user_data", TextField(null=True)),
        migrator.add_index("execution_log", ("execution_id", "step_name", "id")))
    db.execute_sql("UPDATE job_execution SET instance_id = id WHERE instance_id IS NULL")
    migrator.migrate(migrator.add_index("job_execution", ("instance_id", "id")))
    db.create_tables([Checkpoint])
    for row in list(Job.select(Job.id, Job.app, Job.name, Job.definition)):
        data = json.loads(row.definition)
        if _is_flat(data):
            document = _convert(data, f"{row.app}/{row.name}")
            Job.update(definition=json.dumps(document, sort_keys=True)).where(
                Job.id == row.id).execute()


def _is_flat(data) -> bool:
    """The 0001 shape: the definition's fields beside the registered ``document``."""
    return isinstance(data, dict) and ("document" in data or any(
        isinstance(step, dict) and "batchlet_ref" in step for step in data.get("steps") or ()))


def _convert(data: dict, where: str) -> dict:
    """The JSL form of a 0001 row: its registered document (which the JSON codec reads as it
    is), else, for a row whose document is missing or unreadable, its flat fields."""
    from jsbus.errors import JobDefinitionError, StorageError
    from jsbus.jsl.codec import job_from_document, job_to_document

    candidates = []
    if data.get("document"):
        candidates.append(data["document"])
    candidates.append(_from_flat(data))
    problems = []
    for document in candidates:
        try:
            return job_to_document(job_from_document(document))
        except JobDefinitionError as exc:
            problems.extend(exc.messages)
    # The whole migration rolls back: the database stays at 0001 for the operator to mend.
    raise StorageError(f"migration 0002: job {where}: its definition cannot be converted to "
                       "the JSL form: " + "; ".join(problems))


def _from_flat(data: dict) -> dict:
    steps = []
    for step in data.get("steps") or ():
        batchlet = {"ref": step.get("batchlet_ref")}
        if step.get("properties"):
            batchlet["properties"] = dict(step["properties"])
        steps.append({"id": step.get("id"), "batchlet": batchlet,
                      **({"next": step["next"]} if step.get("next") else {})})
    return {"id": data.get("id"), "restartable": data.get("restartable", True),
            "properties": dict(data.get("properties") or {}), "steps": steps}
