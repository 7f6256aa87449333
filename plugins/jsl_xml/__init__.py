"""Built-in job-document parser: JSR-352 / Jakarta Batch Job XML (``application/xml``).

Reads both namespaces (``http://xmlns.jcp.org/xml/ns/javaee``, version 1.0, and
``https://jakarta.ee/xml/ns/jakartaee``, version 2.0) and documents without one; writes the
Jakarta namespace unless told otherwise. XML goes through the JSON form (``reader``/``writer``),
so the JSON codec and ``jsbus.jsl.validation`` apply unchanged.
"""
from __future__ import annotations

from jsbus.backends import JobParser
from jsbus.hookspecs import hookimpl
from jsbus.jsl import definition_from_document, job_from_document, job_to_document
from jsbus.jsl.model import Job
from jsbus_plugins.jsl_xml.reader import JAKARTA, JAVAEE, document_from_xml
from jsbus_plugins.jsl_xml.writer import xml_from_document

MEDIA_TYPES = ("application/xml", "text/xml")


def job_from_xml(body: bytes | str) -> Job:
    """Read Job XML into the model (shape only; ``parse`` also validates)."""
    return job_from_document(document_from_xml(body))


def parse(body: bytes) -> Job:
    """Read and validate Job XML; JobDefinitionError names every problem."""
    return definition_from_document(document_from_xml(body))


def dump(job: Job, namespace: str = JAKARTA) -> bytes:
    """Job XML of ``job``: the Jakarta namespace and version 2.0, or JAVAEE for JSR-352 1.0."""
    return xml_from_document(job_to_document(job), namespace)


@hookimpl
def jsbus_register_job_parsers(config):
    return [JobParser(name="xml", media_types=MEDIA_TYPES, parse=parse, dump=dump)]


__all__ = ["JAKARTA", "JAVAEE", "MEDIA_TYPES", "document_from_xml", "dump", "job_from_xml",
           "parse", "xml_from_document"]
