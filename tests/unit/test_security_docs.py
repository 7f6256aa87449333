"""docs/security.md lists every route with what it needs, exactly as the API enforces it."""
from pathlib import Path

from jsbus.auth.permissions import AGENT, PUBLIC, ROUTES, SIGNED_IN

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
SCOPES = {"app": "in the route's application", "any": "in any application",
          "global": "as administrator (`*`)"}


def need(rule) -> str:
    if rule == PUBLIC:
        return "nothing (open)"
    if rule == AGENT:
        return "an enrolled agent's signature"
    if rule == SIGNED_IN:
        return "any logged-in user"
    return f"`{rule.permission}` {SCOPES[rule.scope]}"


def test_the_route_table_of_the_docs_is_the_enforced_one():
    documented = {line for line in DOC.read_text().splitlines() if line.startswith("| `/")}
    enforced = {f"| `{template}` | {method} | {need(rule)} |"
                for template, methods in ROUTES.items() for method, rule in methods.items()}
    assert sorted(enforced - documented) == [], "routes missing from docs/security.md"
    assert sorted(documented - enforced) == [], "docs/security.md lists what is not enforced"
