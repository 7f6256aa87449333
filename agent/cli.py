"""``jsagent``: run an agent that executes jobs for a jsbus bus.

Flags override the configuration file (``--config``) and ``JSAGENT_*`` environment
variables. On start the agent logs ``jsagent <instance-id> listening on http://<host>:<port>``
(the real port when 0 was asked for).

SIGTERM drains the agent: it takes no new work (its heartbeats say ``agent/draining``), lets
running executions go on for ``agent.drain_grace`` seconds, then stops them (reason ``drain``),
flushes its events to the bus (bounded by ``agent.request_timeout``) and exits 0. SIGINT does the
same with no grace. A second SIGTERM or SIGINT kills the executions at once and exits with 128 +
the signal number.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click

from jsagent.agent import Agent
from jsbus.config import load_agent_config
from jsbus.errors import ConfigurationError


class AgentLogFormatter(logging.Formatter):
    """Timestamps and levels, except for records marked ``plain`` (the startup line)."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "plain", False):
            return record.getMessage()
        return super().format(record)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(AgentLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    if level.lower() != "debug":  # httpx logs every request at INFO
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


class Signals:
    """Counts SIGTERM and SIGINT; ``first`` and ``last`` are the signal numbers received."""

    def __init__(self):
        self.received: list[int] = []
        self.changed = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)
        self.changed.set()

    def wait(self, count: int, timeout: float) -> bool:
        """True once ``count`` signals were received (waits up to ``timeout``)."""
        if len(self.received) < count:
            self.changed.wait(timeout)
            self.changed.clear()
        return len(self.received) >= count


def drain(agent: Agent, signals: Signals) -> int:
    """After the first signal: drain (SIGINT: no grace), wait until no execution runs or a
    second signal came; the exit status (0 drained; 128 + signal when killed)."""
    log = logging.getLogger("jsagent.cli")
    grace = 0.0 if signals.received[0] == signal.SIGINT else None
    log.warning("jsagent %s draining (signal %d; a second one kills the executions at once)",
                agent.instance_id, signals.received[0])
    agent.drain(grace)
    while not agent.idle.is_set():
        if signals.wait(2, 0.1):
            log.error("jsagent %s: second signal, killing every execution", agent.instance_id)
            agent.shutdown(kill=True)
            return 128 + signals.received[1]
    log.info("jsagent %s stopping", agent.instance_id)
    agent.shutdown()
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--bus", envvar="JSAGENT_BUS", metavar="URL", help="Join this bus directly.")
@click.option("--bind", envvar="JSAGENT_BIND", metavar="HOST:PORT",
              help="Listen here (default 0.0.0.0:4510; port 0 picks a free port).")
@click.option("--name", envvar="JSAGENT_NAME", help="Agent name (default: the host name).")
@click.option("--work-dir", envvar="JSAGENT_WORK_DIR", type=click.Path(file_okay=False),
              help="Instance id and scratch files (default $XDG_DATA_HOME/jsagent).")
@click.option("--capacity", type=click.IntRange(min=0), envvar="JSAGENT_CAPACITY",
              help="Executions run at once (0: twice the CPU cores).")
@click.option("--no-discovery", is_flag=True, default=False, envvar="JSAGENT_NO_DISCOVERY",
              help="Do not advertise this agent with zeroconf.")
@click.option("--config", "config_file", envvar="JSAGENT_CONFIG",
              type=click.Path(dir_okay=False, exists=True), help="TOML configuration file.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def main(bus, bind, name, work_dir, capacity, no_discovery, config_file, log_level) -> None:
    """Run a jsbus agent: it executes the jobs a bus sends it, each in a child process."""
    setup_logging(log_level)
    try:
        config = load_agent_config(config_file).with_overrides({
            "agent.bus": bus, "agent.bind": bind, "agent.name": name,
            "agent.work_dir": work_dir, "agent.capacity": capacity,
            "discovery.enabled": False if no_discovery else None})
        agent = Agent(config)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    signals = Signals()
    try:
        agent.start()
        while not signals.wait(1, 1.0):
            pass
    except (ConfigurationError, OSError) as exc:
        agent.shutdown()
        raise click.ClickException(str(exc)) from exc
    except BaseException:
        agent.shutdown(kill=True)
        raise
    sys.exit(drain(agent, signals))


if __name__ == "__main__":
    main()
