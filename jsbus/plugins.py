"""The plugin host: loads every plugin of the ``jsbus`` entry-point group (the built-ins are
registered there too, exactly like third-party plugins) and selects backends by name."""
from __future__ import annotations

import logging
from typing import Any, Iterable

import pluggy

from jsbus import hookspecs
from jsbus.backends import (ComponentScanner, DiscoveryBackend, JobParser, NotifierBackend,
                            StorageBackend, TransportBackend)
from jsbus.config import Config
from jsbus.errors import ConfigurationError

log = logging.getLogger(__name__)

FAMILIES = {
    "storage": ("jsbus_register_storage", StorageBackend),
    "transport": ("jsbus_register_transport", TransportBackend),
    "discovery": ("jsbus_register_discovery", DiscoveryBackend),
    "parser": ("jsbus_register_job_parsers", JobParser),
    "scanner": ("jsbus_register_scanners", ComponentScanner),
    "notifier": ("jsbus_register_notifiers", NotifierBackend),
}


class PluginHost:
    """One per process. ``load_entrypoints=False`` plus ``plugins=`` builds an isolated host."""

    def __init__(self, config: Config, *, load_entrypoints: bool = True,
                 plugins: Iterable[object] = ()):
        self.config = config
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if load_entrypoints:
            self.pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        for plugin in plugins:
            self.pm.register(plugin)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise ConfigurationError(f"plugin {exc.plugin!r}: {exc}") from exc
        self.backends = {family: self._collect(family) for family in FAMILIES}
        self._check_media_types()

    @property
    def hook(self):
        return self.pm.hook

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin())

    def _collect(self, family: str) -> dict[str, tuple[str, Any]]:
        hook_name, record_type = FAMILIES[family]
        found: dict[str, tuple[str, Any]] = {}
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            for record in impl.function(config=self.config) or ():
                if not isinstance(record, record_type):
                    raise ConfigurationError(f"plugin {impl.plugin_name!r} offered {record!r} "
                                             f"from {hook_name}, not a {record_type.__name__}")
                if record.name in found:
                    raise ConfigurationError(
                        f"{family} backend {record.name!r} is registered twice: by plugin "
                        f"{found[record.name][0]!r} and by plugin {impl.plugin_name!r}")
                found[record.name] = (impl.plugin_name, record)
        return found

    def _check_media_types(self) -> None:
        claimed: dict[str, str] = {}
        for _, record in self.backends["parser"].values():
            for media_type in record.media_types:
                if media_type in claimed:
                    raise ConfigurationError(f"media type {media_type} is claimed by parsers "
                                             f"{claimed[media_type]!r} and {record.name!r}")
                claimed[media_type] = record.name

    def backend(self, family: str, name: str | None = None) -> Any:
        """The record of ``family`` named ``name`` (default: ``plugins.<family>`` in config)."""
        name = name or self.config.get(f"plugins.{family}")
        try:
            return self.backends[family][name][1]
        except KeyError:
            installed = ", ".join(sorted(self.backends[family])) or "none"
            raise ConfigurationError(f"unknown {family} backend {name!r} (installed: "
                                     f"{installed})") from None

    def storage(self, name: str | None = None):
        return self.backend("storage", name).factory(self.config)

    def transport(self, name: str | None = None):
        return self.backend("transport", name).factory(self.config)

    def discovery(self, name: str | None = None) -> DiscoveryBackend:
        return self.backend("discovery", name)

    def parser_for(self, media_type: str) -> JobParser | None:
        media_type = media_type.split(";")[0].strip().lower()
        matches = [rec for _, rec in self.backends["parser"].values()
                   if media_type in rec.media_types]
        return matches[0] if matches else None

    def notifier(self, name: str | None = None):
        return self.backend("notifier", name).factory(self.config)

    def scanners(self) -> list[ComponentScanner]:
        """Every component scanner, by name."""
        return [record for _, (_, record) in sorted(self.backends["scanner"].items())]

    def media_types(self) -> list[str]:
        return sorted({t for _, rec in self.backends["parser"].values() for t in rec.media_types})

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook on every plugin; one that raises is logged and the others
        still run: a plugin never breaks the bus's event path."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:  # noqa: BLE001 - see docstring
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)
