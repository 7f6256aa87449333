"""A partitioned step (JSR-352 8.2.6, 11.3-11.4): copies of the step on parallel threads.

On the step's own thread: ``reducer.begin_partitioned_step``, the plan (static, or
``mapper.map_partitions``), then, while the partitions run (``threads`` at a time, default all),
``analyzer.analyze_collector_data`` for each value a partition's collector sends and
``analyzer.analyze_status`` as each partition ends; then ``rollback_partitioned_step`` +
``after_partitioned_step_completion("ROLLBACK")`` when a partition failed or stopped or a
partition artifact raised, else ``before_partitioned_step_completion`` +
``after_partitioned_step_completion("COMMIT")``.

Each partition has its own artifacts, StepContext (properties resolved with its
``#{partitionPlan[...]}`` values, its own persistent user data and metrics) and checkpoints
(``partition`` = its number). A partition that finishes writes a ``done`` checkpoint; on a
restart the partitions done before are not run again (unless the mapper's plan says
``partitions_override``). The step fails if any partition failed, else stops if any stopped.
"""
from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jsagent.api import BatchStatus, JobContext, PartitionPlan, StepContext
from jsagent.engine.batchlet import run_batchlet
from jsagent.engine.checkpoint import commit
from jsagent.engine.chunk import ChunkRun
from jsagent.engine.errors import StepFailure, exit_status_of, traceback_text
from jsagent.engine.listeners import Listeners
from jsagent.engine.metrics import MetricsTotal, new_metrics
from jsagent.engine.properties import Substitution
from jsagent.engine.refs import build, build_all
from jsbus.jsl.model import Step


def _plan_from(raw: Any) -> PartitionPlan:
    """A PartitionPlan from what a mapper returned (the dataclass, a dict or any object)."""
    get = raw.get if isinstance(raw, dict) else lambda key, default=None: getattr(raw, key,
                                                                                 default)
    count = int(get("partitions", 1) or 0)
    if count < 1:
        raise ValueError(f"the partition plan has {count} partitions")
    props = get("properties", None) or get("partition_properties", None) or []
    props = [{str(k): "" if v is None else str(v) for k, v in dict(p or {}).items()}
             for p in props]
    override = get("partitions_override", None) or get("override", False)
    return PartitionPlan(count, int(get("threads", 0) or 0) or None, props, bool(override))


class PartitionedStep:
    def __init__(self, execution, step: Step, step_substitution: Substitution,
                 job_context: JobContext, context: StepContext, fresh: bool):
        self.execution, self.step, self.job_context = execution, step, job_context
        self.substitution, self.context, self.fresh = step_substitution, context, fresh
        self.events: queue.Queue = queue.Queue()
        self.total = MetricsTotal()

    def run(self) -> str:
        """The step's batch status; raises StepFailure when it failed."""
        part, errors, statuses = self.step.partition, [], []
        build_main = lambda ref, kind: build(ref, kind, self.substitution,  # noqa: E731
                                             self.job_context, self.context)
        reducer = analyzer = None
        try:
            reducer = build_main(part.reducer, "reducer") if part.reducer else None
            analyzer = build_main(part.analyzer, "analyzer") if part.analyzer else None
            if reducer is not None:
                reducer.begin_partitioned_step()
            plan = self._plan(build_main)
            if plan.partitions_override and not self.fresh and reducer is not None:
                reducer.rollback_partitioned_step()  # discard the previous partitions' work
            statuses = self._run_all(plan, analyzer, errors)
        except BaseException as exc:  # noqa: BLE001 - a main-thread artifact failed
            errors.append(exc)
        self.total.into(self.context.metrics)
        stopped = BatchStatus.STOPPED in statuses
        try:
            if reducer is not None and (errors or stopped):
                reducer.rollback_partitioned_step()
                reducer.after_partitioned_step_completion("ROLLBACK")
            elif reducer is not None:
                reducer.before_partitioned_step_completion()
                reducer.after_partitioned_step_completion("COMMIT")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        if errors:
            raise StepFailure(exit_status_of(errors[0])) from errors[0]
        return BatchStatus.STOPPED if stopped else BatchStatus.COMPLETED

    def _plan(self, build_main) -> PartitionPlan:
        part = self.step.partition
        if part.plan is None:
            return _plan_from(build_main(part.mapper, "mapper").map_partitions())
        static = part.plan
        props = [self.substitution.properties(p) for p in static.properties]
        return PartitionPlan(static.partitions, static.threads, props)

    def _run_all(self, plan: PartitionPlan, analyzer: Any, errors: list) -> list[str]:
        restart = self.execution.restart
        points = {} if self.fresh or plan.partitions_override else {
            n: restart.checkpoint(self.step.id, n) for n in range(plan.partitions)}
        todo = [n for n in range(plan.partitions) if not (points.get(n) or {}).get("done")]
        statuses: list[str] = []
        if not todo:
            return statuses
        threads = min(plan.threads or plan.partitions, len(todo))
        with ThreadPoolExecutor(max_workers=threads,
                                thread_name_prefix=f"jsagent-{self.step.id}") as pool:
            for n in todo:
                props = plan.properties[n] if n < len(plan.properties) else {}
                pool.submit(self._partition, n, props, points.get(n))
            pending = len(todo)
            while pending:
                kind, n, *rest = self.events.get()
                try:
                    if kind == "data":
                        if analyzer is not None:
                            analyzer.analyze_collector_data(rest[0])
                        continue
                    pending -= 1
                    status, exit_status, error = rest
                    statuses.append(status)
                    if error is not None:
                        errors.append(error)
                    if analyzer is not None:
                        analyzer.analyze_status(status, exit_status)
                except BaseException as exc:  # noqa: BLE001 - the analyzer raised
                    errors.append(exc)
        return statuses

    def _partition(self, number: int, plan_props: dict[str, str],
                   point: dict[str, Any] | None) -> None:
        """One partition, on a thread of the pool; always reports its end on the queue."""
        execution, step = self.execution, self.step
        execution.tag.step = step.id
        job_context = self.job_context.copy()
        substitution = execution.job_substitution.with_plan(plan_props)
        context = StepContext(step.id, batch_status=BatchStatus.STARTED, partition=number,
                              metrics=new_metrics(),
                              persistent_user_data=(point or {}).get("persistent-user-data"))
        execution.stop.watch_context(context)
        status, error = BatchStatus.FAILED, None
        try:
            context.properties = substitution.properties(step.properties)
            scope = substitution.inner(context.properties)
            listeners = Listeners(build_all(step.listeners, "listener", scope, job_context,
                                            context))
            collector = (build(step.partition.collector, "collector", scope, job_context,
                               context) if step.partition.collector else None)
            send = None if collector is None else (
                lambda: self.events.put(("data", number, collector.collect_partition_data())))
            reader_point = writer_point = None
            if step.batchlet is not None:
                batchlet = build(step.batchlet, "batchlet", scope, job_context, context)
                status = run_batchlet(execution, batchlet, context)
            else:
                run = ChunkRun(execution, step.id, step.chunk, scope, job_context, context,
                               listeners, number, point, send)
                status = run.run()
                reader_point, writer_point = run.reader_point, run.writer_point
            if send is not None:
                send()
            if status == BatchStatus.COMPLETED:
                commit(execution, step.id, number, reader_point, writer_point,
                       context.persistent_user_data, context.metrics, done=True)
        except BaseException as exc:  # noqa: BLE001 - the partition fails, the others go on
            status, error, context.exception = BatchStatus.FAILED, exc, exc
            execution.log("ERROR", f"partition {number} of step {step.id} failed: "
                                   f"{exit_status_of(exc)}", traceback_text(exc))
        finally:
            execution.stop.unwatch_context(context)
            self.total.add_all([context.metrics])
            context.batch_status = status
            execution.tag.step = None
            exit_status = context.exit_status if context.exit_status is not None else status
            self.events.put(("end", number, status, exit_status, error))
