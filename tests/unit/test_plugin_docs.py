"""docs/plugins.md documents every hook of jsbus.hookspecs, with its real arguments and types."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from jsbus import hookspecs

pytestmark = pytest.mark.timeout(10)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
HOOK_HEADING = re.compile(r"^### `(?P<name>jsbus_\w+)\((?P<args>[^)]*)\)`\s*$")
CODE_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)


def specs() -> dict[str, inspect.Signature]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: inspect.signature(function) for name, function in vars(hookspecs).items()
            if callable(function) and hasattr(function, marker)}


def documented() -> dict[str, tuple[list[str], str]]:
    """Each hook heading of the guide: its argument names and the text of its section."""
    sections: dict[str, tuple[list[str], str]] = {}
    current: list[str] | None = None
    for line in GUIDE.read_text().splitlines():
        if line.startswith("### `jsbus_"):
            match = HOOK_HEADING.match(line)
            assert match, f"malformed hook heading (want ### `jsbus_hook(arg, ...)`): {line}"
            name = match["name"]
            assert name not in sections, f"{name} is documented twice"
            args = [arg.strip() for arg in match["args"].split(",") if arg.strip()]
            current = [line]
            sections[name] = (args, current)
        elif line.startswith(("# ", "## ", "### ")):
            current = None
        elif current is not None:
            current.append(line)
    return {name: (args, "\n".join(lines)) for name, (args, lines) in sections.items()}


def test_the_spec_has_hooks_to_document():
    assert len(specs()) >= 7


def test_every_hook_is_documented():
    missing = sorted(specs().keys() - documented().keys())
    assert not missing, f"hooks without a section in docs/plugins.md: {missing}"


def test_every_documented_hook_exists():
    unknown = sorted(documented().keys() - specs().keys())
    assert not unknown, f"docs/plugins.md documents hooks that jsbus.hookspecs lacks: {unknown}"


@pytest.mark.parametrize("name", sorted(specs()))
def test_documented_arguments_match_the_spec(name):
    args, section = documented().get(name, (None, ""))
    if args is None:
        pytest.fail(f"{name} is not documented")
    signature = specs()[name]
    assert args == list(signature.parameters), f"{name}: heading names {args}"
    for parameter in signature.parameters.values():
        # Annotations are strings (``from __future__ import annotations``): compare verbatim.
        assert f"`{parameter.name}: {parameter.annotation}`" in section, (
            f"{name}: the section should list `{parameter.name}: {parameter.annotation}`")
    assert f"Returns `{signature.return_annotation}`" in section, (
        f"{name}: the section should say Returns `{signature.return_annotation}`")


def test_every_hook_section_has_an_example_implementation():
    for name, (_, section) in documented().items():
        assert f"@hookimpl\ndef {name}(" in section, f"{name}: no example implementation"


def test_the_python_examples_compile():
    blocks = CODE_BLOCK.findall(GUIDE.read_text())
    assert blocks
    for number, code in enumerate(blocks, 1):
        compile(code, f"docs/plugins.md python block {number}", "exec")
