"""Configuration: built-in defaults < TOML file < environment < command-line flags.

Every key is documented in ``conf/jsbus.toml`` (bus) or ``conf/jsagent.toml`` (agent); a test
keeps those files and the defaults below in step. An environment variable overrides a key:
``JSBUS_<KEY>`` for keys of the ``[bus]`` section (``JSBUS_BIND``, ``JSBUS_DATABASE``) and
``JSBUS_<SECTION>_<KEY>`` for the others (``JSBUS_AGENTS_LEASE``); the agent's are the same
with ``JSAGENT``.
"""
from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

from jsbus.errors import ConfigurationError

BUS_DEFAULTS: dict[str, dict[str, Any]] = {
    "bus": {
        "bind": "127.0.0.1:45102",
        "data_dir": "",
        "database": "",
        "threads": 4,
        "max_body_bytes": 1_048_576,
        "advertised_url": "",
        "leader_retry": 2.0,
        "cors_origins": [],
        "admin_password": "",
        "password_cost": 16,
        "token_idle": 1800.0,
        "token_max_age": 43200.0,
        "auth_cache": 2.0,
    },
    "plugins": {"storage": "peewee", "transport": "http", "discovery": "zeroconf",
                "notifier": "webhook"},
    "discovery": {"enabled": True, "interfaces": []},
    "agents": {"lease": 15.0, "command_timeout": 10.0, "signature_skew": 30.0,
               "bootstrap_join_token": "", "bootstrap_join_token_ttl": 86400.0},
    "notifications": {"url": "", "format": "json", "timeout": 10.0, "max_attempts": 8,
                      "backoff": 2.0, "max_backoff": 600.0, "interval": 1.0},
    "time_monitor": {"interval": 5.0},
    "monitor": {"interval": 60.0, "max_samples": 1440, "retention": 86400.0},
    "dispatch": {"interval": 1.0, "idle_job_actor": 60.0},
    "recovery": {"policy": "auto", "queued_timeouts": 3.0},
    "scheduler": {"time_zone": "UTC", "lead": 1.5, "misfire_threshold": 5.0,
                  "max_catch_up": 100, "resync": 5.0},
    "apps": {"allowed_roots": [], "artifact_dir": "", "max_upload_bytes": 268_435_456,
             "max_expanded_bytes": 1_073_741_824, "max_ratio": 200.0, "max_members": 20_000,
             "scan_timeout": 60.0},
    "dryrun": {"timeout": 60.0},
    "limits": {"max_depth": 32, "max_string": 65_536, "max_items": 10_000,
               "max_query_chars": 2_048},
}

AGENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "agent": {
        "bus": "",
        "bind": "0.0.0.0:4510",
        "advertise_host": "",
        "name": "",
        "work_dir": "",
        "capacity": 0,
        "heartbeat_interval": 5.0,
        "event_batch": 200,
        "request_timeout": 10.0,
        "stop_grace": 10.0,
        "handoff": 0.3,
        "worker_reuse": 200,
        "worker_idle": 60.0,
        "worker_max_idle": 0,
        "join_token": "",
        "signature_skew": 30.0,
        "worker_spare": 2,
        "self_fence": 0.6,
        "drain_grace": 30.0,
    },
    "plugins": {"discovery": "zeroconf"},
    "discovery": {"enabled": True, "interfaces": []},
}


class Config:
    """Read-only view of the merged configuration: ``config.get("bus.bind")``."""

    def __init__(self, values: dict[str, dict[str, Any]], prefix: str):
        self._values = values
        self.prefix = prefix

    def get(self, dotted: str) -> Any:
        section, key = dotted.split(".", 1)
        try:
            return self._values[section][key]
        except KeyError:
            raise ConfigurationError(f"unknown configuration key {dotted!r}") from None

    def section(self, name: str) -> dict[str, Any]:
        return dict(self._values.get(name, {}))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        values = self.as_dict()
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, key = dotted.split(".", 1)
            values.setdefault(section, {})[key] = value
        return Config(values, self.prefix)


def env_name(prefix: str, home_section: str, section: str, key: str) -> str:
    parts = [prefix] if section == home_section else [prefix, section]
    return "_".join(parts + [key]).upper()


def _coerce(raw: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, list):
            return [part.strip() for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r}: not a valid "
                                 f"{type(default).__name__}") from None
    return raw


def _merge_file(values: dict, path: Path, defaults: dict) -> None:
    try:
        loaded = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read configuration {path}: {exc}") from exc
    for section, keys in loaded.items():
        if section not in defaults or not isinstance(keys, dict):
            raise ConfigurationError(f"{path}: unknown section [{section}]")
        for key, value in keys.items():
            if key not in defaults[section]:
                raise ConfigurationError(f"{path}: unknown key {key!r} in [{section}]")
            values[section][key] = value


def load(defaults: dict, prefix: str, home_section: str, path: str | os.PathLike | None = None,
         environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    values = copy.deepcopy(defaults)
    if path:
        _merge_file(values, Path(path), defaults)
    for section, keys in defaults.items():
        for key, default in keys.items():
            name = env_name(prefix, home_section, section, key)
            if name in environ:
                values[section][key] = _coerce(environ[name], default, name)
    return Config(values, prefix)


def load_bus_config(path=None, environ=None) -> Config:
    return load(BUS_DEFAULTS, "JSBUS", "bus", path, environ)


def load_agent_config(path=None, environ=None) -> Config:
    return load(AGENT_DEFAULTS, "JSAGENT", "agent", path, environ)


def user_data_dir(configured: str, name: str) -> Path:
    """``configured`` when set, else ``$XDG_DATA_HOME/<name>``, else ``~/.local/share/<name>``."""
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / name


def artifact_dir(config: Config) -> Path:
    """``apps.artifact_dir``; else ``artifacts`` beside the SQLite database, else in the data
    directory."""
    if config.get("apps.artifact_dir"):
        return Path(config.get("apps.artifact_dir")).expanduser()
    url = database_url(config)
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):].split("?")[0]).parent / "artifacts"
    return data_dir(config) / "artifacts"


def data_dir(config: Config) -> Path:
    """``bus.data_dir``, else ``$XDG_DATA_HOME/jsbus``, else ``~/.local/share/jsbus``."""
    return user_data_dir(config.get("bus.data_dir"), "jsbus")


def database_url(config: Config) -> str:
    """``bus.database``, else a SQLite file ``jsbus.db`` in the data directory."""
    return config.get("bus.database") or f"sqlite:///{data_dir(config) / 'jsbus.db'}"


def split_bind(bind: str, default_port: int) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep:
        return bind, default_port
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        raise ConfigurationError(f"bind address {bind!r}: port must be a number") from None
