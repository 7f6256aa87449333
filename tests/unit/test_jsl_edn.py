"""EDN: the JSON form with keyword keys (jsbus.jsl.edn and the jsl_edn plugin)."""
import copy
import re
from pathlib import Path

import edn_format
import pytest

from jsbus.config import load_bus_config
from jsbus.errors import JobDefinitionError
from jsbus.jsl import definition_from_document, job_to_document
from jsbus.jsl.edn import document_from_edn, document_to_edn, job_from_edn, job_to_edn
from jsbus.plugins import PluginHost
from jsbus_plugins import jsl_edn
from tests.unit.test_jsl_document import RICH

pytestmark = pytest.mark.timeout(30)

EDN = """
; a job in EDN
{:id "NIGHTLY" :restartable false
 :properties {:region "EU" "out.dir" "/tmp" :n 3}
 :listeners [{:ref "m.Audit"}]
 :steps [{:id "load" :next "choose"
          :chunk {:reader {:ref "m:Reader" :properties {:path "/in"}} :writer {:ref "m.Writer"}
                  :checkpoint-policy :custom :checkpoint-algorithm {:ref "m.Every"}
                  :item-count 5 :skippable-exception-classes {:include ["ValueError"]}}
          :transitions [{:on "FAILED" :action :stop :restart "load"}]}
         {:type :decision :id "choose" :ref "m.Decider"
          :transitions [{:on "AGAIN" :action "next" :to "report"} {:on "*" :action :end}]}
         {:type "flow" :id "report"
          :steps [{:id "r" :batchlet {:ref "shell" :properties {:command "ls"}}}]}]}
"""


def test_edn_reads_into_the_json_form():
    document = document_from_edn(EDN)
    assert document["properties"] == {"region": "EU", "out.dir": "/tmp", "n": 3}
    assert document["steps"][0]["chunk"]["checkpoint-policy"] == "custom"
    assert document["steps"][1]["transitions"][1] == {"on": "*", "action": "end"}
    job = jsl_edn.parse(EDN.encode())
    assert job.restartable is False and job.properties["n"] == "3"
    assert job.elements[0].chunk.checkpoint_algorithm.ref == "m.Every"
    assert job.elements[0].transitions[0].restart == "load"
    assert [e.id for e in job.elements] == ["load", "choose", "report"]


def test_the_documented_example_reads():
    text = (Path(__file__).resolve().parents[2] / "docs" / "jsl.md").read_text()
    [example] = re.findall(r"```clojure\n(.*?)```", text, re.DOTALL)
    job = jsl_edn.parse(example.encode())
    assert [element.id for element in job.elements] == ["load", "choose", "report"]
    assert job.elements[0].chunk.item_count == 50


def test_edn_round_trip_of_a_rich_job():
    job = definition_from_document(copy.deepcopy(RICH))
    text = job_to_edn(job)
    assert ":checkpoint-policy :custom" in text and ":action :stop" in text
    assert ":type :split" in text and '"region"' in text  # property names stay strings
    again = job_from_edn(text)
    assert again == job
    assert job_to_edn(again) == text
    assert document_from_edn(document_to_edn(RICH)) == RICH


def test_edn_round_trip_from_edn():
    job = jsl_edn.parse(EDN.encode())
    dumped = jsl_edn.dump(job)
    assert isinstance(dumped, bytes)
    assert jsl_edn.parse(dumped) == job
    assert document_from_edn(dumped) == job_to_document(job)


def test_edn_output_uses_keyword_keys():
    value = edn_format.loads(job_to_edn(jsl_edn.parse(EDN.encode())))
    assert all(isinstance(key, edn_format.Keyword) for key in value)
    step = value[edn_format.Keyword("steps")][0]
    assert edn_format.Keyword("chunk") in step


@pytest.mark.parametrize("text, message", [
    ("{:id", "malformed EDN: "),
    ("", "malformed EDN: expected one job map, found 0 forms"),
    ("{:id \"A\"} {:id \"B\"}", "malformed EDN: expected one job map, found 2 forms"),
    ("#unknown/tag {}", "malformed EDN: "),
    ("{1 2}", "malformed EDN: document: map key 1 is not a keyword or a string"),
    ("{:id \"J\" :steps [{:id sym}]}", "malformed EDN: steps[0].id: Symbol"),
    ("{:id \"J\" :steps #{1}}", "malformed EDN: steps: frozenset"),
    (b"\xff", "malformed EDN: not UTF-8"),
])
def test_malformed_edn(text, message):
    with pytest.raises(JobDefinitionError) as info:
        jsl_edn.parse(text if isinstance(text, bytes) else text.encode())
    assert info.value.messages[0].startswith(message), info.value.messages


def test_edn_jobs_are_validated():
    with pytest.raises(JobDefinitionError) as info:
        jsl_edn.parse(b'{:id "J" :steps [{:id "a" :batchlet {:ref "m.A"} :next "a"}]}')
    assert info.value.messages == ["step a: next and transitions make a loop a -> a; no element "
                                   "may be transitioned to twice"]
    with pytest.raises(JobDefinitionError) as info:
        jsl_edn.parse(b'{:id "J" :colour :red :steps [{:id "a" :batchlet {:ref "m.A"}}]}')
    assert info.value.messages == ["job: unknown key 'colour'"]
    with pytest.raises(JobDefinitionError) as info:
        jsl_edn.parse(b'[1 2]')
    assert info.value.messages == ["job: must be an object"]


def test_the_plugin_registers_the_edn_parser():
    [parser] = jsl_edn.jsbus_register_job_parsers(config=None)
    assert (parser.name, parser.media_types) == ("edn", ("application/edn",))
    plugins = PluginHost(load_bus_config(environ={}))
    assert "jsl_edn" in plugins.plugin_names()
    assert plugins.parser_for("application/edn; charset=utf-8").name == "edn"
