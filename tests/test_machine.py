"""Compiled machines: one per workflow version, the graph as defined, and Mermaid output."""

from __future__ import annotations

import pytest
from transitions import MachineError

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.definition import parse_workflow
from pmf_engine.core.machine import compile_workflow
from tests.conftest import WORKFLOWS


def test_one_machine_per_version_shared(catalog: Catalog) -> None:
    wf = catalog.workflow("quarterly_cycle")
    same_text, _ = parse_workflow((WORKFLOWS / "quarterly_cycle.yaml").read_text(), "again.yaml")
    assert compile_workflow(wf) is compile_workflow(same_text)
    other, _ = parse_workflow(
        (WORKFLOWS / "quarterly_cycle.yaml").read_text().replace("label: Closed", "label: Done"), "v2.yaml"
    )
    assert compile_workflow(other) is not compile_workflow(wf)


@pytest.mark.parametrize(
    ("state", "trigger", "dest"),
    [
        ("data_request", "close_data_request", "service_review"),
        ("cmt_review", "return_to_services", "service_review"),
        ("cabinet_approval", "defer", "cabinet_approval"),
        ("scrutiny", "refer_back", "cabinet_approval"),
    ],
)
def test_next_state_follows_the_definition(catalog: Catalog, state: str, trigger: str, dest: str) -> None:
    assert compile_workflow(catalog.workflow("quarterly_cycle")).next_state(state, trigger) == dest


def test_machine_refuses_what_the_graph_lacks(catalog: Catalog) -> None:
    compiled = compile_workflow(catalog.workflow("quarterly_cycle"))
    with pytest.raises(MachineError):
        compiled.next_state("closed", "conclude")
    with pytest.raises(MachineError):
        compiled.next_state("data_request", "no_such_trigger")


def test_mermaid_diagram_has_every_transition(catalog: Catalog) -> None:
    wf = catalog.workflow("quarterly_cycle")
    text = compile_workflow(wf).mermaid()
    assert text.splitlines()[0] == "---" and "stateDiagram-v2" in text
    for t in wf.transitions:
        for source in t.source:
            assert f"{source} --> {t.dest}: {t.trigger}" in text
