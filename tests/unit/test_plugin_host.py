"""The plugin host: backends by name, start-up errors, lifecycle notifications."""
from __future__ import annotations

import logging
import types

import pytest

from jsbus.backends import DiscoveryBackend, JobParser, StorageBackend, TransportBackend
from jsbus.config import load_bus_config
from jsbus.errors import ConfigurationError
from jsbus.hookspecs import hookimpl
from jsbus.model import AgentInfo
from jsbus.plugins import PluginHost

pytestmark = pytest.mark.timeout(30)


def plugin(name: str, **hooks) -> types.ModuleType:
    """An in-process plugin: a module called ``name`` holding ``hooks`` as hook impls."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def transports(*names: str):
    def jsbus_register_transport(config):
        return [TransportBackend(name=name, factory=lambda config, name=name: (name, config))
                for name in names]
    return jsbus_register_transport


def host(*plugins, **overrides) -> PluginHost:
    config = load_bus_config(environ={}).with_overrides(overrides)
    return PluginHost(config, load_entrypoints=False, plugins=plugins)


def test_backends_are_picked_by_the_configured_name():
    plugins = host(plugin("carrier", jsbus_register_transport=transports("pigeon", "http")),
                   **{"plugins.transport": "pigeon"})

    name, config = plugins.transport()

    assert name == "pigeon"
    assert config is plugins.config
    assert plugins.backend("transport", "http").name == "http"
    assert "carrier" in plugins.plugin_names()


def test_every_family_collects_records():
    def jsbus_register_storage(config):
        return [StorageBackend(name="memory", factory=lambda config: {"config": config})]

    def jsbus_register_discovery(config):
        return [DiscoveryBackend(name="static", browser=object, advertiser=object)]

    def jsbus_register_job_parsers(config):
        return [JobParser(name="yaml", media_types=("application/yaml",), parse=bytes)]

    plugins = host(plugin("kit", jsbus_register_storage=jsbus_register_storage,
                          jsbus_register_discovery=jsbus_register_discovery,
                          jsbus_register_job_parsers=jsbus_register_job_parsers))

    assert plugins.storage("memory") == {"config": plugins.config}
    assert plugins.discovery("static").name == "static"
    assert plugins.parser_for("application/yaml; charset=utf-8").name == "yaml"
    assert plugins.parser_for("text/csv") is None
    assert plugins.media_types() == ["application/yaml"]


def test_a_plugin_may_offer_nothing():
    plugins = host(plugin("shy", jsbus_register_transport=lambda config: None))

    assert plugins.backends["transport"] == {}


def test_an_unknown_backend_name_lists_the_installed_ones():
    plugins = host(plugin("carrier", jsbus_register_transport=transports("pigeon", "http")),
                   **{"plugins.transport": "telegraph"})

    with pytest.raises(ConfigurationError, match="telegraph") as raised:
        plugins.transport()
    assert "installed: http, pigeon" in str(raised.value)


def test_one_name_from_two_plugins_stops_start_up_naming_both():
    first = plugin("carrier_one", jsbus_register_transport=transports("pigeon"))
    second = plugin("carrier_two", jsbus_register_transport=transports("pigeon"))

    with pytest.raises(ConfigurationError, match="'pigeon' is registered twice") as raised:
        host(first, second)
    assert "carrier_one" in str(raised.value) and "carrier_two" in str(raised.value)


def test_a_record_of_the_wrong_family_stops_start_up():
    wrong = plugin("confused", jsbus_register_transport=lambda config: [
        StorageBackend(name="memory", factory=dict)])

    with pytest.raises(ConfigurationError, match="not a TransportBackend"):
        host(wrong)


def test_a_misspelt_hook_implementation_stops_start_up():
    typo = plugin("typo", jsbus_register_transprot=transports("pigeon"))

    with pytest.raises(ConfigurationError, match="jsbus_register_transprot"):
        host(typo)


def test_notify_logs_a_plugin_that_raises_and_carries_on(caplog):
    seen = []

    def jsbus_agent_lost(agent):
        raise RuntimeError("mail server down")

    # pluggy calls the later-registered plugin first: the noisy one runs before the quiet one
    plugins = host(plugin("quiet", jsbus_agent_lost=lambda agent: seen.append(agent)),
                   plugin("noisy", jsbus_agent_lost=jsbus_agent_lost))
    agent = AgentInfo(instance_id="d7dd0172", name="agent-1", host="127.0.0.1", port=4510)

    with caplog.at_level(logging.ERROR, logger="jsbus.plugins"):
        plugins.notify("jsbus_agent_lost", agent=agent)

    assert "jsbus_agent_lost" in caplog.text
    assert "mail server down" in caplog.text
    assert "'noisy'" in caplog.text
    assert seen == [agent]  # the quiet plugin still ran after the noisy one failed


def test_notify_calls_the_hook_with_keyword_arguments():
    seen = []
    plugins = host(plugin("quiet", jsbus_agent_joined=lambda agent: seen.append(agent)))
    agent = AgentInfo(instance_id="d7dd0172", name="agent-1", host="127.0.0.1", port=4510)

    plugins.notify("jsbus_agent_joined", agent=agent)

    assert seen == [agent]


def test_built_ins_load_through_entry_points_like_any_plugin():
    plugins = PluginHost(load_bus_config(environ={}))

    assert {"transport_http", "discovery_zeroconf", "storage_peewee",
            "jsl_json"} <= set(plugins.plugin_names())
    assert type(plugins.transport()).__name__ == "HttpTransport"
    assert plugins.discovery().name == "zeroconf"
    assert "http" in plugins.backends["transport"]
    assert "application/json" in plugins.media_types()
    assert "peewee" in plugins.backends["storage"]
