"""Job XML substitution (JSL 8.8) and how properties reach artifacts and contexts (9.3)."""
from __future__ import annotations

import json
import platform

import pytest

from jsagent.engine.properties import Substitution
from tests.integration.engine_app.harness import command, step


def substitution(parameters=None, scopes=(), plan=None) -> Substitution:
    return Substitution(parameters or {}, scopes, plan, system={"os.name": "Linux", "HOME": "/h"})


@pytest.mark.parametrize("value, expected", [
    ("plain", "plain"),
    ("#{jobParameters['p']}", "P"),
    ("#{jobProperties['j']}", "J"),
    ("#{systemProperties['os.name']}", "Linux"),
    ("#{partitionPlan['n']}", "3"),
    ("file#{partitionPlan['n']}.txt", "file3.txt"),
    ("#{jobParameters['p']}-#{jobProperties['j']}/#{jobParameters[\"p\"]}", "P-J/P"),
    ("#{jobParameters['missing']}", ""),
    ("a#{jobParameters['missing']}b", "ab"),
    ("#{jobParameters['missing']}?:in.txt;", "in.txt"),
    ("#{jobParameters['p']}?:in.txt;", "P"),
    ("x#{jobParameters['missing']}?:#{jobProperties['j']}.dat;y", "xJ.daty"),
    ("#{jobParameters['empty']}?:fallback;", "fallback"),
    ("#{jobParameters['missing']}?:no end", "no end"),
    ("#{unknownOperator['p']}", "#{unknownOperator['p']}"),
])
def test_substitution_operators_concatenation_and_defaults(value, expected):
    sub = substitution({"p": "P", "empty": ""}, [{"j": "J"}], {"n": "3"})
    assert sub(value) == expected


def test_job_properties_search_earlier_properties_of_the_scope_then_outer_scopes():
    job = substitution().properties({"filestem": "postings", "outputlog": "jobmessages"})
    reader = substitution(scopes=[{}, job]).properties({
        "infile.name": "#{jobProperties['filestem']}.txt",
        "outputlog": "readermessages",
        "outfile.name": "#{jobProperties['outputlog']}.txt",
        "later": "#{jobProperties['defined.after']}",
        "defined.after": "x"})
    assert reader == {"infile.name": "postings.txt", "outputlog": "readermessages",
                      "outfile.name": "readermessages.txt", "later": "", "defined.after": "x"}


def test_outside_a_partition_partition_plan_resolves_to_the_empty_string():
    assert substitution()("#{partitionPlan['n']}?:none;") == "none"


@pytest.mark.timeout(30)
def test_properties_reach_artifacts_as_attributes_and_contexts_with_substitution(run_job):
    batchlet = {"ref": "eapp_batchlets.ShowProperties", "properties": {
        "names": "region,in.file,who,os_name,unset,home",
        "region": "#{jobProperties['region']}",
        "in.file": "#{jobProperties['stem']}-#{jobParameters['day']}.csv",
        "who": "#{jobParameters['who']}?:nobody;",
        "os_name": "#{systemProperties['os.name']}",
        "home": "#{systemProperties['ENGINE_TEST_HOME']}",
        "unset": "#{jobParameters['nothing']}"}}
    body = command([{"id": "show", "batchlet": batchlet,
                     "properties": {"stem": "#{jobProperties['region']}-data",
                                    "step.only": "yes"}}],
                   parameters={"day": "2026-11-28"},
                   properties={"region": "#{jobParameters['region']}?:EU;", "stem": "job"})
    run = run_job(body)  # the worker's environment has ENGINE_TEST_HOME (harness.WORKER_ENV)
    (line,) = run.messages("PROPS ")
    shown = json.loads(line[len("PROPS "):])
    assert shown["own"] == {"region": "EU", "in.file": "EU-data-2026-11-28.csv", "who": "nobody",
                            "os_name": platform.system(), "unset": None, "home": "/srv/home"}
    assert shown["step"] == {"stem": "EU-data", "step.only": "yes"}
    assert shown["job"] == {"region": "EU", "stem": "job"}
    assert shown["partition"] is None


@pytest.mark.timeout(30)
def test_partition_plan_properties_are_resolved_per_partition_in_step_and_artifact_properties(
        run_job):
    body = command([{"id": "show", "properties": {"part": "p#{partitionPlan['n']}"},
                     "batchlet": {"ref": "eapp_batchlets.ShowProperties", "properties": {
                         "names": "file", "file": "file#{partitionPlan['n']}.txt"}},
                     "partition": {"plan": {"partitions": 2, "properties": [
                         {"n": "#{jobParameters['base']}0"}, {"n": "1"}]}}}],
                   parameters={"base": "b"})
    run = run_job(body)
    shown = sorted((json.loads(line[len("PROPS "):]) for line in run.messages("PROPS ")),
                   key=lambda s: s["partition"])
    assert [(s["partition"], s["own"]["file"], s["step"]["part"]) for s in shown] == [
        (0, "fileb0.txt", "pb0"), (1, "file1.txt", "p1")]


@pytest.mark.timeout(30)
def test_a_ref_may_be_a_built_in_name_or_one_registered_by_a_loaded_module(run_job):
    run = run_job(command([step("A", "eapp_batchlets.Exit"),
                           step("B", "eapp-hello")]))
    assert run.ended["B"]["exit-status"] == "HELLO"
    shell = command([step("A", "shell", props={"command": "true"})])
    run = run_job(dict(shell, builtins=["shell"]))  # its application enabled shell
    assert (run.status, run.ended["A"]["exit-status"]) == ("completed", "0")  # built in
    run = run_job(shell)  # not enabled: refused, nothing runs
    assert run.status == "failed" and "has not enabled" in run.exit_status
    run = run_job(command([step("A", "no-such-name")]))
    assert run.exit_status.startswith("ValueError: batchlet ref 'no-such-name'")
