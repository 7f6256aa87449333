"""``jsagent``: run an agent that executes jobs for a jsbus bus.

Flags override the configuration file (``--config``) and ``JSAGENT_*`` environment
variables. On start the agent logs ``jsagent <instance-id> listening on http://<host>:<port>``
(the real port when 0 was asked for). SIGTERM or SIGINT stop it cleanly (exit status 0).
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

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


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


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
    stop = stop_on_signals()
    try:
        agent.start()
        while not stop.wait(1.0):
            pass
    except (ConfigurationError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        logging.getLogger("jsagent.cli").info("jsagent %s stopping", agent.instance_id)
        agent.shutdown()


if __name__ == "__main__":
    main()
