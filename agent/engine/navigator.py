"""Sequencing a job's execution elements (JSR-352 8.2.5, 8.3-8.6, 8.9, 10.8).

A scope (the job, or a flow) starts at its first element (the job: at the restart position on
a restart) and goes on by the finished element's transition elements, evaluated in document
order against its exit status (``*`` and ``?`` patterns): ``next`` goes to an element of the
same scope, ``end``/``fail``/``stop`` end the whole job COMPLETED/FAILED/STOPPED (their
``exit-status`` becomes the job's exit status; ``stop``'s ``restart`` is where a restart
begins). When no transition matches: a FAILED step fails the job; else the ``next``
attribute; else the scope ends (the job completes, a flow transitions by its own
transitions/``next``, matching the exit status of its last element). A STOPPED step, or a
stop request, stops the job before anything else runs.

A scope in which no element has a ``next`` attribute or a transition element is a plain
sequence (the seed's JSON form): each element is followed by the next one in the document.

A split runs its flows on parallel threads; if one of them ended the job, the job ends once
all flows are done (FAILED over STOPPED over COMPLETED); else the split's ``next``. A decision
calls its decider with the step executions of the element before it; the returned value is
both the job's exit status and what the decision's transitions match. No element may be
transitioned to twice in one execution (a loop fails the job).
"""
from __future__ import annotations

import threading
from typing import Any

from jsagent.api import BatchStatus, StepExecution
from jsagent.engine.errors import exit_status_of, traceback_text
from jsagent.engine.outcome import Done, End, pattern_matches
from jsagent.engine.refs import build
from jsagent.engine.step import StepRunner
from jsagent.events import log_event
from jsbus.jsl.model import Decision, Flow, Split, Step

PRECEDENCE = {BatchStatus.FAILED: 0, BatchStatus.STOPPED: 1, BatchStatus.COMPLETED: 2}
ENDINGS = {"end": BatchStatus.COMPLETED, "fail": BatchStatus.FAILED, "stop": BatchStatus.STOPPED}


def plain_sequence(elements) -> bool:
    return not any(getattr(e, "next", None) or getattr(e, "transitions", ()) for e in elements)


class Navigator:
    def __init__(self, execution):
        self.execution = execution
        self.steps = StepRunner(execution)

    def run(self, start: str | None) -> End:
        """Run the job from ``start`` (None: its first element) to its end."""
        result = self.scope(self.execution.job.elements, start, top=True)
        return End(BatchStatus.COMPLETED) if isinstance(result, Done) else result

    def scope(self, elements, start: str | None, top: bool) -> Done | End:
        execution = self.execution
        by_id = {element.id: element for element in elements}
        if start is not None and start not in by_id:
            return End(BatchStatus.FAILED, error=f"RestartError: the restart position {start!r}"
                                                 f" is not a top-level element of the job")
        current = by_id[start] if start is not None else elements[0]
        sequential, executions = plain_sequence(elements), []
        while True:
            if execution.stop.requested:
                return self._at(End(BatchStatus.STOPPED), current, top)
            if not execution.visit(current.id):
                return self._at(End(BatchStatus.FAILED, error=f"LoopError: element "
                                    f"{current.id!r} was transitioned to twice"), current, top)
            result = self.element(current, executions)
            if isinstance(result, End):
                return self._at(result, current, top)
            ended, target = self.follow(current, result, sequential, elements)
            if ended is not None:
                return self._at(ended, current, top)
            if target is None:
                return result
            if target not in by_id:
                where = "the job" if top else "its flow"
                return self._at(End(BatchStatus.FAILED, error=f"TransitionError: {current.id} "
                                    f"transitions to {target!r}, not an element of {where}"),
                                current, top)
            executions, current = result.executions, by_id[target]

    @staticmethod
    def _at(end: End, current: Any, top: bool) -> End:
        """At the top level, a job that did not complete restarts at the running element."""
        if top and end.restart is None and end.batch_status != BatchStatus.COMPLETED:
            end.restart = current.id
        return end

    def follow(self, current: Any, result: Done, sequential: bool,
               elements) -> tuple[End | None, str | None]:
        """The transition after ``current``: (an end of the job, or the next element id)."""
        execution = self.execution
        substitute = execution.job_substitution
        if result.batch_status == BatchStatus.STOPPED:
            return End(BatchStatus.STOPPED, error=result.exit_status), None
        if execution.stop.requested:
            return End(BatchStatus.STOPPED), None
        for transition in getattr(current, "transitions", ()):
            if not pattern_matches(substitute(transition.on) or "", result.exit_status):
                continue
            if transition.action == "next":
                return None, substitute(transition.to)
            if transition.exit_status is not None:
                execution.job_context.exit_status = substitute(transition.exit_status)
            restart = substitute(transition.restart) if transition.action == "stop" else None
            return End(ENDINGS[transition.action], restart=restart), None
        if result.batch_status == BatchStatus.FAILED:
            return End(BatchStatus.FAILED, error=result.error), None
        if getattr(current, "next", None):
            return None, current.next
        if sequential:
            index = [element.id for element in elements].index(current.id)
            if index + 1 < len(elements):
                return None, elements[index + 1].id
        return None, None

    def element(self, element: Any, executions: list[StepExecution]) -> Done | End:
        if isinstance(element, Step):
            return self.steps.run(element)
        if isinstance(element, Flow):
            return self.flow(element)
        if isinstance(element, Split):
            return self.split(element)
        if isinstance(element, Decision):
            return self.decision(element, executions)
        return End(BatchStatus.FAILED, error=f"TypeError: unknown element {element!r}")

    def flow(self, flow: Flow) -> Done | End:
        result = self.scope(flow.elements, None, top=False)
        if isinstance(result, End):
            return result
        return Done(BatchStatus.COMPLETED, result.exit_status, executions=result.executions)

    def split(self, split: Split) -> Done | End:
        results: list[Done | End] = [End(BatchStatus.FAILED)] * len(split.flows)

        def run(index: int, flow: Flow) -> None:
            self.execution.tag.step = None
            try:
                results[index] = self.flow(flow)
            except BaseException as exc:  # noqa: BLE001 - an engine error fails the job
                self._log_error(f"flow {flow.id} failed: {exit_status_of(exc)}", exc)
                results[index] = End(BatchStatus.FAILED, error=exit_status_of(exc))
        threads = [threading.Thread(target=run, args=(index, flow), daemon=True,
                                    name=f"jsagent-{split.id}-{flow.id}")
                   for index, flow in enumerate(split.flows)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ends = [result for result in results if isinstance(result, End)]
        if ends:
            return min(ends, key=lambda end: PRECEDENCE.get(end.batch_status, 0))
        executions = [e for result in results for e in result.executions]
        return Done(BatchStatus.COMPLETED, BatchStatus.COMPLETED, executions=executions)

    def decision(self, decision: Decision, executions: list[StepExecution]) -> Done | End:
        execution = self.execution
        try:
            decider = build(decision.decider, "decider", execution.job_substitution,
                            execution.job_context, None)
            value = decider.decide(list(executions))
            if value is None:
                raise ValueError(f"the decider of decision {decision.id} returned None")
        except BaseException as exc:  # noqa: BLE001 - JSR-352 8.5.2: the job fails
            self._log_error(f"decision {decision.id} failed: {exit_status_of(exc)}", exc)
            return End(BatchStatus.FAILED, error=exit_status_of(exc))
        execution.job_context.exit_status = str(value)
        return Done(BatchStatus.COMPLETED, str(value), executions=list(executions))

    def _log_error(self, message: str, exc: BaseException) -> None:
        execution = self.execution
        execution.emit(log_event(execution.execution_id, None, "ERROR", "jsagent.worker",
                                 message, traceback_text(exc)))
