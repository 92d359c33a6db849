"""The JSON shapes of the planning and assurance API (``api_planning``): a service plan, a risk
of the register (a plan's operational risks are entries there, so both answer them alike) and a
quarter's assurance summary."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi.encoders import jsonable_encoder

from pmf_engine.pmf.assurance import AssuranceSummary
from pmf_engine.pmf.plan_views import PlanView
from pmf_engine.pmf.risks import RiskView


def plan_json(p: PlanView) -> dict[str, Any]:
    """A service plan as the API answers it: its operational risks as the register's entries."""
    return {
        "key": p.key,
        "organisation": p.organisation,
        "year": p.year,
        "service": p.service,
        "service_name": p.service_name,
        "state": p.state,
        "state_label": p.state_label,
        "terminal": p.terminal,
        "version": p.version,
        "editable": p.editable,
        "self_evaluation": p.self_evaluation,
        "sections": [{"name": n, "label": label, "text": text} for n, label, text in p.sections],
        "actions": [
            {
                "ref": a.ref,
                "what": a.what,
                "owner": a.owner,
                "due": a.due,
                "link": a.link,
                "statuses": {q: {"status": st, "note": note} for q, (st, note) in sorted(a.statuses.items())},
            }
            for a in p.actions
        ],
        "risks": [risk_json(r) for r in p.risks],
    }


def risk_json(r: RiskView) -> dict[str, Any]:
    """A risk of the register: its inherent and residual pairs and scores nested."""
    found = asdict(r)
    for name in ("inherent_likelihood", "inherent_impact", "likelihood", "impact", "score"):
        del found[name]
    return found | {
        "inherent": {
            "likelihood": r.inherent_likelihood,
            "impact": r.inherent_impact,
            "score": r.inherent_score,
        },
        "residual": {"likelihood": r.likelihood, "impact": r.impact, "score": r.score},
    }


def assurance_json(a: AssuranceSummary) -> dict[str, Any]:
    """A quarter's assurance summary, with each return's gap and the counts an auditor reads."""
    found: dict[str, Any] = jsonable_encoder(asdict(a))
    found["sign_off_role"] = found.pop("role")
    for row, r in zip(found["returns"], a.returns, strict=True):
        row["gap"] = r.gap
    return found | {"late_sign_offs": a.late_sign_offs, "unsigned": a.unsigned}
