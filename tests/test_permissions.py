"""Permission decisions as a table: role, scope, read-only roles and segregation of duties."""

from __future__ import annotations

import pytest

from pmf_engine.core.catalog import Catalog
from pmf_engine.core.permissions import Assignment, authorise

SM_HOUSING = Assignment("service_manager", "TDC", "HOUSING")
PERF = Assignment("performance_officer", "TDC")
PERF_OTHER_ORG = Assignment("performance_officer", "OTH")
AUDITOR = Assignment("auditor", "TDC")
HOS_NO_SERVICE = Assignment("head_of_service", "TDC")


@pytest.mark.parametrize(
    ("workflow", "trigger", "source", "assignments", "service", "prior", "role", "rule_part"),
    [
        ("service_return", "submit", "requested", [SM_HOUSING], "HOUSING", [], "service_manager", None),
        ("service_return", "submit", "requested", [SM_HOUSING], "PLANNING", [], None, "scope:"),
        (
            "service_return",
            "submit",
            "requested",
            [PERF],
            "HOUSING",
            [],
            None,
            "needs one of service_manager",
        ),
        ("service_return", "accept", "submitted", [PERF], "HOUSING", [], "performance_officer", None),
        ("service_return", "accept", "submitted", [PERF_OTHER_ORG], "HOUSING", [], None, "holds no roles"),
        (
            "service_return",
            "accept",
            "submitted",
            [PERF, SM_HOUSING],
            "HOUSING",
            ["submit"],
            None,
            "return_maker_checker",
        ),
        (
            "service_return",
            "accept",
            "submitted",
            [PERF],
            "HOUSING",
            ["return_for_correction"],
            "performance_officer",
            None,
        ),
        ("quarterly_cycle", "close_data_request", "data_request", [AUDITOR], None, [], None, "needs one of"),
        (
            "quarterly_cycle",
            "approve",
            "cabinet_approval",
            [Assignment("cabinet_clerk", "TDC")],
            None,
            ["sign_off"],
            None,
            "signoff_not_approval",
        ),
        (
            "quarterly_cycle",
            "approve",
            "cabinet_approval",
            [Assignment("cabinet_clerk", "TDC")],
            None,
            [],
            "cabinet_clerk",
            None,
        ),
        (
            "quarterly_cycle",
            "sign_off",
            "leadership_signoff",
            [Assignment("cmt_member", "TDC"), Assignment("leadership_team", "TDC")],
            None,
            ["endorse"],
            None,
            "endorse_not_signoff",
        ),
        (
            "quarterly_cycle",
            "sign_off",
            "leadership_signoff",
            [Assignment("cmt_member", "TDC"), Assignment("leadership_team", "TDC")],
            None,
            [],
            "leadership_team",
            None,
        ),
        (
            "quarterly_cycle",
            "endorse",
            "cmt_review",
            [Assignment("portfolio_holder", "TDC")],
            None,
            [],
            "portfolio_holder",
            None,
        ),
    ],
)
def test_authorise(
    catalog: Catalog,
    workflow: str,
    trigger: str,
    source: str,
    assignments: list[Assignment],
    service: str | None,
    prior: list[str],
    role: str | None,
    rule_part: str | None,
) -> None:
    transition = catalog.workflow(workflow).transition(trigger, source)
    assert transition is not None
    decision = authorise(
        policy=catalog.roles,
        workflow=workflow,
        transition=transition,
        actor="someone",
        assignments=assignments,
        organisation="TDC",
        service=service,
        prior_triggers_by_actor=prior,
    )
    assert decision.role == role
    if rule_part is None:
        assert decision.allowed and decision.rule is None
    else:
        assert not decision.allowed and rule_part in (decision.rule or "")


def test_service_scoped_role_without_service_never_applies(catalog: Catalog) -> None:
    transition = catalog.workflow("service_return").transition("submit", "requested")
    assert transition is not None
    scoped = transition.model_copy(update={"roles": ("head_of_service",)})
    decision = authorise(
        policy=catalog.roles,
        workflow="service_return",
        transition=scoped,
        actor="x",
        assignments=[HOS_NO_SERVICE],
        organisation="TDC",
        service="HOUSING",
    )
    assert not decision.allowed and decision.rule and decision.rule.startswith("scope:")
