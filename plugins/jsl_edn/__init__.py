"""Built-in job-document parser: the JSON form written as EDN (``application/edn``).

Keys are keywords (``{:id "J" :steps [{:id "a" :batchlet {:ref "m.A"}}]}``); see ``docs/jsl.md``
and ``jsbus.jsl.edn``.
"""
from __future__ import annotations

from jsbus.backends import JobParser
from jsbus.hookspecs import hookimpl
from jsbus.jsl import definition_from_document
from jsbus.jsl.edn import document_from_edn, job_to_edn
from jsbus.model import JobDefinition

MEDIA_TYPES = ("application/edn",)


def parse(body: bytes) -> JobDefinition:
    """Read and validate an EDN job; JobDefinitionError("malformed EDN: ...") or its problems."""
    return definition_from_document(document_from_edn(body))


def dump(definition: JobDefinition) -> bytes:
    return job_to_edn(definition).encode()


@hookimpl
def jsbus_register_job_parsers(config):
    return [JobParser(name="edn", media_types=MEDIA_TYPES, parse=parse, dump=dump)]
