"""Job XML (JSR-352 1.0 and Jakarta Batch 2.x) <-> the model, through the jsl_xml plugin."""
import copy
import re
from pathlib import Path

import pytest

from jsbus.config import load_bus_config
from jsbus.errors import JobDefinitionError
from jsbus.jsl import definition_from_document
from jsbus.jsl.model import Decision, Flow, Split, Transition
from jsbus.plugins import PluginHost
from jsbus_plugins import jsl_xml
from tests.unit.test_jsl_document import RICH

pytestmark = pytest.mark.timeout(30)

# From the specification (job_specification_language.adoc, "partitionPlan Substitution
# Operator"), with its two typos fixed (ref="MyReader> and ref="MyMapper "): no namespace.
SPEC_PARTITION_PLAN = """<job id="job1">
 <step id="step1">
  <chunk>
   <reader ref="MyReader">
    <properties>
     <property name="infile.name" value="file#{partitionPlan['myPartitionNumber']}.txt"/>
     <property name="outfile.name" value="#{partitionPlan['outFile']}"/>
    </properties>
   </reader>
   <writer ref="MyWriter"/>
  </chunk>
  <partition>
   <mapper ref="MyMapper"/>
  </partition>
 </step>
</job>"""

# The specification's flow and transition examples (sections "Flow-level Transitions Undefined"
# and "Combining Transition Elements") made into one runnable job, Jakarta namespace.
JAKARTA_FLOW = """<?xml version="1.0" encoding="UTF-8"?>
<job id="flows" xmlns="https://jakarta.ee/xml/ns/jakartaee"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:schemaLocation="https://jakarta.ee/xml/ns/jakartaee jobXML_2_0.xsd" version="2.0">
 <flow id="Flow1" next="StepX">
  <step id="FS1">
   <batchlet ref="m.FS1"/>
   <next on="RC1" to="FS2A"/>
   <next on="RC2" to="FS2B"/>
  </step>
  <step id="FS2A"><batchlet ref="m.FS2"/><fail on="FAILED"/></step>
  <step id="FS2B"><batchlet ref="m.FS2"/><fail on="FAILED"/></step>
 </flow>
 <step id="StepX" next="Step2">
  <batchlet ref="m.X"/>
  <next on="RC0" to="Step2"/>
  <next on="RC4" to="Step3"/>
  <end on="RC4" exit-status="DONE"/>
  <fail on="*"/> <!-- Matches anything, so only makes sense as last transition element-->
 </step>
 <split id="Step2" next="Step3">
  <flow id="p1"><step id="p1s"><batchlet ref="m.P"/></step></flow>
  <flow id="p2"><step id="p2s"><batchlet ref="m.P"/><stop on="X" restart="StepX"/></step></flow>
 </split>
 <decision id="Step3" ref="m.Decide">
  <properties><property name="mode" value="strict"/></properties>
  <stop on="STOP" exit-status="HELD" restart="Step2"/>
  <end on="*"/>
 </decision>
</job>"""

# JSR-352 1.0: the javaee namespace, version 1.0; the spec's partition plan and skip examples.
JAVAEE_CHUNK = """<job id="chunky" xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="1.0"
     restartable="false">
 <properties><property name="stem" value="postings"/></properties>
 <step id="Step1" start-limit="2" allow-start-if-complete="true">
  <listeners><listener ref="m.Listener"><properties>
   <property name="Property1" value="Property1-Value"/></properties></listener></listeners>
  <chunk checkpoint-policy="item" item-count="20" time-limit="60" skip-limit="5" retry-limit="2">
   <reader ref="m.R"/><processor ref="m.P"/><writer ref="m.W"/>
   <skippable-exception-classes>
    <include class="java.lang.Exception"/>
    <exclude class="java.io.FileNotFoundException"/>
   </skippable-exception-classes>
   <retryable-exception-classes><include class="java.io.IOException"/></retryable-exception-classes>
   <no-rollback-exception-classes><include class="m.Soft"/></no-rollback-exception-classes>
  </chunk>
  <partition>
   <plan partitions="2">
    <properties partition="1"><property name="filename" value="/tmp/file2.txt"/></properties>
   </plan>
   <collector ref="m.C"/><analyzer ref="m.A"/><reducer ref="m.Red"/>
  </partition>
 </step>
</job>"""


def test_the_spec_partition_plan_example_reads_without_a_namespace():
    job = jsl_xml.parse(SPEC_PARTITION_PLAN.encode())
    [step] = job.elements
    assert step.chunk.reader.properties["infile.name"] == \
        "file#{partitionPlan['myPartitionNumber']}.txt"
    assert step.partition.mapper.ref == "MyMapper" and step.chunk.writer.ref == "MyWriter"


def test_jakarta_namespace_with_flows_splits_decisions_and_transitions():
    job = jsl_xml.parse(JAKARTA_FLOW.encode())
    flow, step_x, split, decision = job.elements
    assert isinstance(flow, Flow) and flow.next == "StepX"
    assert [t.to for t in flow.elements[0].transitions] == ["FS2A", "FS2B"]
    assert step_x.transitions[2] == Transition("end", "RC4", exit_status="DONE")
    assert isinstance(split, Split) and [f.id for f in split.flows] == ["p1", "p2"]
    assert isinstance(decision, Decision) and decision.decider.properties == {"mode": "strict"}
    assert decision.transitions[0] == Transition("stop", "STOP", exit_status="HELD",
                                                 restart="Step2")


def test_javaee_namespace_with_every_chunk_and_partition_element():
    job = jsl_xml.parse(JAVAEE_CHUNK.encode())
    assert job.restartable is False and job.properties == {"stem": "postings"}
    [step] = job.elements
    assert (step.start_limit, step.allow_start_if_complete) == (2, True)
    assert step.listeners[0].properties == {"Property1": "Property1-Value"}
    chunk = step.chunk
    assert (chunk.item_count, chunk.time_limit, chunk.skip_limit, chunk.retry_limit) == \
        (20, 60, 5, 2)
    assert chunk.skippable.exclude == ("java.io.FileNotFoundException",)
    assert chunk.no_rollback.include == ("m.Soft",)
    assert step.partition.plan.properties == ({}, {"filename": "/tmp/file2.txt"})
    assert step.partition.reducer.ref == "m.Red"


@pytest.mark.parametrize("text", [SPEC_PARTITION_PLAN, JAKARTA_FLOW, JAVAEE_CHUNK])
def test_xml_model_xml_model_round_trip(text):
    job = jsl_xml.parse(text.encode())
    written = jsl_xml.dump(job)
    assert b'xmlns="https://jakarta.ee/xml/ns/jakartaee"' in written and b'version="2.0"' in written
    again = jsl_xml.parse(written)
    assert again == job
    assert jsl_xml.dump(again) == written
    old = jsl_xml.dump(job, jsl_xml.JAVAEE)
    assert b'xmlns="http://xmlns.jcp.org/xml/ns/javaee"' in old and b'version="1.0"' in old
    assert jsl_xml.parse(old) == job


def test_a_rich_job_survives_export_and_import():
    job = definition_from_document(copy.deepcopy(RICH))
    assert jsl_xml.parse(jsl_xml.dump(job)) == job
    odd = definition_from_document({"id": "J", "properties": {"multi": "a\nb\t\"<&>\" ", "e": ""},
                                    "steps": [{"id": "a", "batchlet": {"ref": "m.A"}}]})
    assert jsl_xml.parse(jsl_xml.dump(odd)) == odd


def test_the_documented_example_reads():
    text = (Path(__file__).resolve().parents[2] / "docs" / "jsl.md").read_text()
    [example] = re.findall(r"```xml\n(.*?)```", text, re.DOTALL)
    job = jsl_xml.parse(example.encode())
    assert [element.id for element in job.elements] == ["load", "choose", "report"]
    assert job.elements[0].partition.plan.properties == ({}, {"n": "1"})


def test_other_encodings_are_read():
    assert jsl_xml.parse(JAKARTA_FLOW.replace("UTF-8", "UTF-16").encode("utf-16")).id == "flows"


def job(body: str, namespace: str = jsl_xml.JAKARTA) -> str:
    return f'<job xmlns="{namespace}" id="J" version="2.0">{body}</job>'


OK_STEP = '<step id="a"><batchlet ref="m.A"/></step>'


@pytest.mark.parametrize("text, message", [
    ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><job id="&lol2;"/>',
     "refused XML: <!DOCTYPE> and <!ENTITY> declarations are not allowed"),
    ('<!DOCTYPE job SYSTEM "http://example.invalid/job.dtd"><job id="J"/>', "refused XML"),
    ("<job id='J'><step id='a'></job>", "malformed XML: mismatched tag"),
    ("", "malformed XML"),
    ('<job id="J"><x:step id="a"/></job>', "malformed XML: unbound prefix"),
    ('<?xml version="1.0" encoding="utf-99"?><job id="J"/>', "malformed XML"),
    ('<jobs id="J"/>', "the root element must be <job>, not <jobs>"),
    ('<job xmlns="urn:other" id="J"/>', "job: unknown namespace 'urn:other'"),
    (job(OK_STEP.replace("<batchlet", "<batchlet colour='red'")),
     "step a.batchlet: unknown attribute 'colour' on <batchlet>"),
    (job('<step id="a"><batchlet ref="m.A"/><retry/></step>'), "step a: unknown element <retry>"),
    (job(OK_STEP, "https://jakarta.ee/xml/ns/jakartaee").replace(
        "<step", '<x:step xmlns:x="http://xmlns.jcp.org/xml/ns/javaee"').replace(
        "</step>", "</x:step>"),
     "job J: unknown element <{http://xmlns.jcp.org/xml/ns/javaee}step>"),
    (job('<step><batchlet ref="m.A"/></step>'), "steps[0]: <step> needs attribute id"),
    (job('<step id="a"><batchlet/></step>'), "step a.batchlet: <batchlet> needs attribute ref"),
    (job('<decision id="d"/>'), "decision d: <decision> needs attribute ref"),
    (job('<step id="a"><batchlet ref="m.A"/><next on="*"/></step>'),
     "step a.next: <next> needs attribute to"),
    (job('<step id="a">hello<batchlet ref="m.A"/></step>'), "step a: unexpected text 'hello'"),
    (job('<step id="a"><batchlet ref="m.A"/><properties/><properties/></step>'),
     "step a: <step> has more than one <properties>"),
    (job('<step id="a"><batchlet ref="m.A"><properties><property name="x" value="1"/>'
         '<property name="x" value="2"/></properties></batchlet></step>'),
     "step a.batchlet.properties: property 'x' is defined twice"),
    (job('<step id="a"><batchlet ref="m.A"><properties partition="0"/></batchlet></step>'),
     "step a.batchlet.properties: unknown attribute 'partition' on <properties>"),
    (job('<step id="a"><batchlet ref="m.A"/><partition><plan partitions="2"><properties/>'
         '</plan></partition></step>'),
     "step a.partition.plan: <properties> in <plan> needs attribute partition"),
    (job('<step id="a"><batchlet ref="m.A"/><partition><plan partitions="2">'
         '<properties partition="2"/></plan></partition></step>'),
     "step a.partition.plan: properties partition 2 is not below partitions 2"),
    (job('<step id="a"><batchlet ref="m.A"/><partition><plan partitions="2">'
         '<properties partition="1"/><properties partition="1"/></plan></partition></step>'),
     "step a.partition.plan: properties partition 1 is given twice"),
    (job('<step id="a"><batchlet ref="m.A"/><partition><plan partitions="2">'
         '<properties partition="one"/></plan></partition></step>'),
     "properties partition 'one' is not a whole number >= 0"),
    (job(OK_STEP).replace('version="2.0"', 'version="3.7"'),
     "job J: version '3.7' is not 1.0 (JSR-352) or 2.0 (Jakarta Batch)"),
    (job('<step id="a"><chunk item-count="many"><reader ref="m.R"/><writer ref="m.W"/></chunk>'
         '</step>'), "step a.chunk: item-count must be a whole number >= 0"),
    (job('<step id="a"><chunk><reader ref="m.R"/></chunk></step>'),
     "step a.chunk: writer must be present"),
    (job('<step id="a" next="b"><batchlet ref="m.A"/></step>'),
     "step a: next 'b' is not an element of the job"),
    (job('<split id="s"><step id="a"><batchlet ref="m.A"/></step></split>'),
     "split s: unknown element <step> in <split>"),
    (job('<step id="a"><batchlet ref="m.A"/><chunk><reader ref="m.R"/><writer ref="m.W"/>'
         '</chunk></step>'), "step a: has both batchlet and chunk"),
])
def test_xml_problems_name_the_element(text, message):
    with pytest.raises(JobDefinitionError) as info:
        jsl_xml.parse(text.encode())
    assert any(message in problem for problem in info.value.messages), info.value.messages


def test_every_xml_problem_is_reported_at_once():
    with pytest.raises(JobDefinitionError) as info:
        jsl_xml.parse(job('<step id="a" colour="red"><batchlet/><retry/></step>'
                          '<flow><step id="b"><batchlet ref="m.B"/></step></flow>').encode())
    assert info.value.messages == ["step a: unknown attribute 'colour' on <step>",
                                   "step a.batchlet: <batchlet> needs attribute ref",
                                   "step a: unknown element <retry> in <step>",
                                   "steps[1]: <flow> needs attribute id"]


def test_the_plugin_registers_the_xml_parser():
    [parser] = jsl_xml.jsbus_register_job_parsers(config=None)
    assert (parser.name, parser.media_types) == ("xml", ("application/xml", "text/xml"))
    plugins = PluginHost(load_bus_config(environ={}))
    assert "jsl_xml" in plugins.plugin_names()
    assert plugins.parser_for("text/xml").name == "xml"
    assert plugins.parser_for("application/xml").dump is jsl_xml.dump
