import re
import tomllib
from pathlib import Path

import pytest

from jsbus.config import AGENT_DEFAULTS, BUS_DEFAULTS, load_agent_config, load_bus_config
from jsbus.errors import ConfigurationError

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("name, defaults", [("jsbus.toml", BUS_DEFAULTS),
                                            ("jsagent.toml", AGENT_DEFAULTS)])
def test_shipped_file_documents_every_key_with_its_default(name, defaults):
    text = (CONF / name).read_text()
    assert tomllib.loads(text) == defaults
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^\w+ = ", line):
            assert lines[index - 1].startswith("#"), f"{name}: {line!r} has no comment above it"


def test_precedence_file_then_environment(tmp_path):
    path = tmp_path / "bus.toml"
    path.write_text('[bus]\nbind = "127.0.0.1:1"\n[agents]\nlease = 3.0\n')
    config = load_bus_config(path, environ={"JSBUS_BIND": "127.0.0.1:2",
                                            "JSBUS_DISCOVERY_ENABLED": "false",
                                            "JSBUS_DISCOVERY_INTERFACES": "127.0.0.1, 10.0.0.1"})
    assert config.get("bus.bind") == "127.0.0.1:2"
    assert config.get("agents.lease") == 3.0
    assert config.get("discovery.enabled") is False
    assert config.get("discovery.interfaces") == ["127.0.0.1", "10.0.0.1"]
    assert config.with_overrides({"bus.bind": "x:3", "bus.database": None}).get("bus.bind") == "x:3"


def test_agent_environment_prefix():
    config = load_agent_config(environ={"JSAGENT_BUS": "http://127.0.0.1:9", "JSAGENT_CAPACITY": "3"})
    assert config.get("agent.bus") == "http://127.0.0.1:9"
    assert config.get("agent.capacity") == 3


@pytest.mark.parametrize("content, message", [
    ("[buss]\nbind = 1\n", "unknown section [buss]"),
    ("[bus]\nbnd = 1\n", "unknown key 'bnd'"),
    ("[bus\n", "cannot read configuration"),
])
def test_bad_files_are_start_up_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_bus_config(path, environ={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigurationError, match="JSBUS_AGENTS_LEASE"):
        load_bus_config(environ={"JSBUS_AGENTS_LEASE": "soon"})
