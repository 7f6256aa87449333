"""Built-in job-document parser: the seed's JSON form (``application/json``)."""
from __future__ import annotations

import json

from jsbus import limits
from jsbus.backends import JobParser
from jsbus.errors import JobDefinitionError
from jsbus.hookspecs import hookimpl
from jsbus.jsl import definition_from_document, job_to_document
from jsbus.model import JobDefinition


def parse(body: bytes) -> JobDefinition:
    """Read and validate a JSON job; beyond ``[limits]`` (``jsbus.limits``): LimitExceeded."""
    limits.check_json_text(body, "document")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobDefinitionError(f"malformed JSON: {exc}") from None
    return definition_from_document(limits.check_value(document, "document"))


def dump(definition: JobDefinition) -> bytes:
    return json.dumps(job_to_document(definition), indent=2).encode()


@hookimpl
def jsbus_register_job_parsers(config):
    return [JobParser(name="json", media_types=("application/json",), parse=parse, dump=dump)]
