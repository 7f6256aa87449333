"""The ``jsbus`` command: ``serve``, ``run``, ``demo``, ``repl``. Every flag has an environment
variable (shown in ``--help``), so operators can script it."""
from __future__ import annotations

import logging
import sys

import click
from rich.console import Console

from jsbus import __version__
from jsbus.config import load_bus_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


@click.group(context_settings={"show_default": True})
@click.version_option(__version__, prog_name="jsbus")
def main() -> None:
    """jsbus: a control bus for batch jobs."""


@main.command()
@click.option("--bind", envvar="JSBUS_BIND", show_envvar=True, default=None,
              help="HOST:PORT to listen on  [default: 127.0.0.1:45102]")
@click.option("--database", envvar="JSBUS_DATABASE", show_envvar=True, default=None,
              help="sqlite:///path or postgresql://...  [default: jsbus.db in the data directory]")
@click.option("--config", "config_file", envvar="JSBUS_CONFIG", show_envvar=True,
              type=click.Path(exists=True, dir_okay=False), help="TOML configuration file")
@click.option("--no-discovery", is_flag=True, envvar="JSBUS_NO_DISCOVERY", show_envvar=True,
              help="do not look for agents with zeroconf (agents join with --bus)")
@click.option("--workers", type=click.IntRange(1, 16), default=1, envvar="JSBUS_WORKERS",
              show_envvar=True, help="gunicorn workers; only one of them ever dispatches")
def serve(bind, database, config_file, no_discovery, workers) -> None:
    """Run the bus: the REST API, the dispatcher and discovery."""
    from jsbus.server import serve as run_server
    configure_logging()
    config = load_bus_config(config_file).with_overrides({
        "bus.bind": bind, "bus.database": database,
        "discovery.enabled": False if no_discovery else None})
    _ensure_data_dir(config)
    _check_plugins(config)
    run_server(config, workers)


def _check_plugins(config) -> None:
    """Fail before gunicorn starts when a backend name is wrong (no threads are made here)."""
    from jsbus.errors import ConfigurationError
    from jsbus.plugins import PluginHost
    try:
        plugins = PluginHost(config)
        for family in ("storage", "transport") + (("discovery",) if config.get(
                "discovery.enabled") else ()):
            plugins.backend(family)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _ensure_data_dir(config) -> None:
    from jsbus.config import data_dir, database_url
    from jsbus.private import private_dir
    from jsbus.redact import redact_url
    if not config.get("bus.database"):
        private_dir(data_dir(config))  # 0700: the database and artifacts live there
    logging.getLogger("jsbus").info("database %s", redact_url(database_url(config)))


def bus_options(command):
    """``--bus``, ``--user`` and ``--password`` of the commands that call a bus."""
    command = click.option("--password", envvar="JSBUS_PASSWORD", show_envvar=True,
                           help="the user's password (else the token jsbus login kept)")(command)
    command = click.option("--user", envvar="JSBUS_USER", show_envvar=True, default="admin",
                           show_default=True, help="who logs in")(command)
    return click.option("--bus", "bus_url", envvar="JSBUS_BUS", show_envvar=True,
                        default="http://127.0.0.1:45102", help="URL of the bus")(command)


@main.command()
@bus_options
def login(bus_url, user, password) -> None:
    """Log in to a bus and keep the token for the next commands."""
    from jsbus.session import LoginError, login as log_in
    password = password or click.prompt("password", hide_input=True)
    try:
        log_in(bus_url, user, password)
    except LoginError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"logged in to {bus_url} as {user}")


@main.command()
@click.option("--bus", "bus_url", envvar="JSBUS_BUS", show_envvar=True,
              default="http://127.0.0.1:45102", help="URL of the bus")
def logout(bus_url) -> None:
    """Revoke and forget the token kept for a bus."""
    from jsbus.session import logout as log_out
    log_out(bus_url)


@main.command()
@bus_options
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="a job parameter (repeatable)")
@click.option("--timeout", type=float, default=3600.0, envvar="JSBUS_RUN_TIMEOUT",
              show_envvar=True, help="give up following after this many seconds")
@click.argument("app")
@click.argument("job")
def run(bus_url, user, password, params, timeout, app, job) -> None:
    """Start JOB of APP now and follow it until it ends; exit 0 only if it completed."""
    import httpx

    from jsbus.follow import ApiError, run_job, status_name
    from jsbus.session import LoginError, session
    parameters = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        parameters[name] = value
    console = Console(stderr=False)
    try:
        execution = run_job(session(bus_url, user, password), app, job, parameters, console,
                            timeout)
    except (ApiError, LoginError) as exc:
        raise click.ClickException(str(exc)) from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the bus at {bus_url}: {exc}") from None
    status = status_name(execution["job-execution/batch-status"])
    sys.exit(0 if status == "completed" else 1)


@main.command()
@click.option("--keep", is_flag=True, help="keep the demo's directory (database, logs)")
def demo(keep) -> None:
    """Start a bus and a local agent on a fresh SQLite file, deploy the example application,
    register its job, run it and show the execution. No multicast: the agent joins directly."""
    from jsbus.demo import run_demo
    sys.exit(run_demo(Console(), keep=keep))


@main.command()
def repl() -> None:
    """An interactive console: go() starts a bus in-process, halt() stops it, reset() reloads
    changed code and starts again."""
    from jsbus.repl import interact
    interact()


if __name__ == "__main__":
    main()
