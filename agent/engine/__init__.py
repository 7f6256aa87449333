"""The JSR-352 (Jakarta Batch) runtime of the worker child process.

``jsagent.worker`` reads the start command and builds an :class:`~jsagent.engine.context.Execution`;
:func:`~jsagent.engine.job.run_job` runs it:

* ``job`` - job properties, job listeners, the final batch status / exit status / restart position;
* ``navigator`` - steps, flows, splits, decisions, transitions, the restart position;
* ``step`` - restart rules (completed steps, start-limit), step listeners, step events;
* ``batchlet``, ``chunk``, ``partition`` - the three ways a step runs;
* ``checkpoint`` - checkpoint events and waiting for their acknowledgement;
* ``properties`` - ``#{...}`` substitution; ``refs`` - building artifacts; ``listeners``,
  ``metrics``, ``errors``, ``outcome``, ``context`` - the parts they share.
"""
