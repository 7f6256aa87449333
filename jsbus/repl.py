"""``jsbus repl``: the original's ``(dev)`` / ``(go)`` workflow, in Python.

``go()`` starts a bus in this process on a scratch SQLite database, with the API on a local port
(``go(agent=True)`` adds a local agent process); ``halt()`` stops it; ``reset()`` reloads the
jsbus modules whose files changed and starts again. While it runs, ``repl.system`` holds the parts:
``system.bus``, ``system.config``, ``system.plugins``, ``system.storage``, ``system.url``.
"""
from __future__ import annotations

import code
import importlib
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("jsbus", "jsbus_plugins", "jsagent")


@dataclass
class System:
    bus: object = None
    config: object = None
    plugins: object = None
    storage: object = None
    url: str = ""
    workdir: Path | None = None
    server: object = None
    agent: object = None
    loaded: dict = field(default_factory=dict)


class Repl:
    def __init__(self):
        self.system: System | None = None
        self._mtimes = _module_mtimes()

    def go(self, agent: bool = False, port: int = 0) -> str:
        """Start a bus (and with ``agent=True`` a local agent) on a scratch database."""
        if self.system is not None:
            return f"already running at {self.system.url}; halt() first"
        from jsbus.api.app import create_app
        from jsbus.bus import Bus
        from jsbus.config import load_bus_config
        from jsbus.devserver import BackgroundServer
        from jsbus.launch import dev_join_token, start_agent
        workdir = Path(tempfile.mkdtemp(prefix="jsbus-repl-"))
        server = BackgroundServer("127.0.0.1", port)
        config = load_bus_config().with_overrides({
            "bus.bind": f"127.0.0.1:{server.port}",
            "bus.database": f"sqlite:///{workdir / 'repl.db'}", "discovery.enabled": False,
            "agents.bootstrap_join_token": dev_join_token(workdir)})  # the local agent's
        bus = Bus(config)
        bus.start()
        server.start(create_app(bus))
        system = System(bus=bus, config=config, plugins=bus.plugins, storage=bus.storage,
                        url=server.url, workdir=workdir, server=server)
        if agent:
            system.agent, _ = start_agent(workdir, system.url, name="repl-agent")
        self.system = system
        return f"bus running at {system.url} ({bus.role}), database {workdir / 'repl.db'}"

    def halt(self) -> str:
        """Stop what go() started."""
        system, self.system = self.system, None
        if system is None:
            return "not running"
        if system.agent is not None:
            system.agent.stop()
        system.server.stop()
        system.bus.stop()
        return "halted"

    def reset(self, agent: bool | None = None) -> str:
        """halt(), reload the modules whose source changed, go() again."""
        had_agent = self.system is not None and self.system.agent is not None
        self.halt()
        reloaded = self.reload_changed()
        started = self.go(agent=had_agent if agent is None else agent)
        return f"reloaded {', '.join(reloaded) or 'nothing'}; {started}"

    def reload_changed(self) -> list[str]:
        now = _module_mtimes()
        changed = sorted(name for name, mtime in now.items()
                         if name in self._mtimes and self._mtimes[name] != mtime)
        for name in changed:
            importlib.reload(sys.modules[name])
        self._mtimes = _module_mtimes()
        return changed


def _module_mtimes() -> dict[str, float]:
    mtimes = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.split(".")[0] in PACKAGES and path:
            try:
                mtimes[name] = Path(path).stat().st_mtime
            except OSError:
                continue
    return mtimes


BANNER = """jsbus REPL. go() starts a bus on a scratch database (go(agent=True) adds an agent),
halt() stops it, reset() reloads changed code and starts again; repl.system holds the parts."""


def interact() -> None:
    repl = Repl()
    namespace = {"repl": repl, "go": repl.go, "halt": repl.halt, "reset": repl.reset}
    try:
        code.interact(banner=BANNER, local=namespace, exitmsg="bye")
    finally:
        repl.halt()
