"""Indexes for a long history (issue 9, ``bench/history.py``).

- ``job_execution(app, job, batch_status, id)``: one job's executions in given statuses (the
  execution list filtered by ``batch-status``, which dashboards poll; ``active_executions`` of
  exclusive jobs and overlap policies) are found by seeks instead of reading every execution of
  the job: with 300,000 executions of one job, counting its unfinished ones took ~160 ms and
  now takes well under 1 ms. Built in ~1 s on a database of 1,000,000 executions.
"""


def up(migrator, db):
    migrator.migrate(migrator.add_index("job_execution", ("app", "job", "batch_status", "id")))


def down(migrator, db):
    migrator.migrate(migrator.drop_index("job_execution", "job_execution_app_job_batch_status_id"))
