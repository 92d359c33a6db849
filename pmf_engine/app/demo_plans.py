"""The demo council's service plans: each Head of Service's plan for the open quarter's year,
written, checked and agreed (Leisure's returned once as not SMART), and each action's status
reported with every quarter's return of that year; each plan's operational risks are entries of
the risk register, reviewed with the service's return each quarter."""

from __future__ import annotations

from collections.abc import Callable

from pmf_engine.core.period import FinancialYear, Period
from pmf_engine.pmf import sample
from pmf_engine.pmf.framework import Framework

ORG = "WDC"
Say = Callable[[str, str, str], None]

EVALUATIONS = {
    "HOUSING": "Re-let times improved for three quarters but temporary accommodation is still above target.",
    "PLANNING": "Major applications are decided on time; minor applications take too long.",
    "WASTE": "Recycling fell after the contractor strike; missed bins are back within target.",
    "LEISURE": "Visits recovered to 2019 levels; the leisure centre rebuild is the year's main risk.",
    "REVENUES": "Collection is steady; new benefit claims take two days longer than last year.",
    "COMMUNITIES": "Volunteering grew; the community grants scheme was oversubscribed twice.",
}
SECTIONS = {
    "partnerships": "Delivered with the county council, registered providers and the voluntary sector.",
    "workforce_planning": "Two posts hard to fill; apprenticeships started in September.",
    "operational_risks": "See the risks below; reviewed each quarter with the return.",
}
ACTIONS: dict[str, list[tuple[str, str, int, str]]] = {
    # service: (what, measure or "project CODE", quarter it is due, status in Q1..Q4 by CODES)
    "HOUSING": [
        ("Re-let 90% of void homes within 28 days", "HOU-01", 4, "OOAO"),
        ("Sign the Site B contract for 60 council homes", "project P-04", 3, "OACC"),
    ],
    "PLANNING": [("Decide 70% of minor applications in 8 weeks", "PLA-02", 4, "NOOO")],
    "WASTE": [
        ("Recycling back to 52% by a food waste campaign", "WAS-01", 4, "OXAO"),
        ("Start weekly food waste collections", "project P-02", 3, "OOCC"),
    ],
    "LEISURE": [("Open the rebuilt leisure centre", "project P-01", 4, "OOAO")],
    "REVENUES": [("Process new benefit claims in 18 days", "REV-03", 2, "OCCC")],
    "COMMUNITIES": [("Second round of community grants awarded", "COM-01", 3, "NOCC")],
}
CODES = {"N": "not_started", "O": "on_track", "A": "at_risk", "X": "off_track", "C": "complete"}
NOTES = {
    "at_risk": "Behind the profile: recovery agreed with the portfolio holder",
    "off_track": "Contractor strike",
}
RISKS: dict[str, tuple[str, tuple[int, int], tuple[int, int], str, str]] = {
    # service: (risk, inherent and residual likelihood x impact, controls, what it threatens):
    # entries of the risk register, reviewed with each quarter's return
    "HOUSING": ("Contractor capacity for void repairs", (4, 4), (3, 4), "A second framework contractor",
                "HOU-01"),
    "LEISURE": ("Rebuild overruns its budget", (5, 4), (4, 4), "Monthly cost review with the contractor",
                "project P-01"),
    "WASTE": ("Fleet breakdowns in winter", (4, 3), (3, 3), "Two hired vehicles on standby", "WAS-01"),
}  # fmt: skip


def plan_year(open_quarter: Period) -> str:
    """The year the demo's plans are for: the open quarter's."""
    return str(FinancialYear(open_quarter.start_year))


def write_plans(framework: Framework, year: str, say: Say) -> None:
    """Start ``year``'s plans, write each service's, and take every plan through to agreed."""
    plans, engine = framework.plans, framework.engine
    for service, who in sample.OWNERS.items():
        if service != "HOUSING":  # Hannah is already Head of Housing
            engine.directory.grant(who, "head_of_service", ORG, service=service, by="adam")
    started = plans.start(ORG, year, by="priya")
    say("priya", "start service plans", f"{started.key}: {len(started.children)} plans")
    for service, who in sample.OWNERS.items():
        key = plans.plan_key(ORG, year, service)
        plans.write(key, self_evaluation=EVALUATIONS[service], sections=SECTIONS, by=who)
        engine.fire(key, "submit_self_evaluation", who)
        for what, link, quarter, _ in ACTIONS[service]:
            due = Period(int(year[:4]), quarter).end.isoformat()
            plans.add_action(key, what, owner=who, due=due, link=link, by=who)
        if service in RISKS:
            risk, inherent, (likelihood, impact), controls, threat = RISKS[service]
            project = threat.removeprefix("project ") if threat.startswith("project ") else ""
            plans.add_risk(
                key, risk, owner=who, likelihood=likelihood, impact=impact, inherent_likelihood=inherent[0],
                inherent_impact=inherent[1], controls=controls, measures=[] if project else [threat],
                projects=[project] if project else [], by=who,
            )  # fmt: skip
        engine.fire(key, "submit_plan", who)
        if service == "LEISURE":
            engine.fire(key, "return_not_smart", "priya", reason="A1: say which month the centre opens")
            say("priya", "return_not_smart", f"{service}: plan returned as not SMART")
            engine.fire(key, "submit_plan", who)
        engine.fire(key, "agree_plan", "priya")
    engine.fire(plans.round_key(ORG, year), "close_planning", "priya")
    say("priya", "close_planning", f"{len(sample.OWNERS)} service plans agreed for {year}")


def report_statuses(framework: Framework, cycle: str, service: str, by: str) -> None:
    """Each of ``service``'s plan actions' status for the cycle's quarter, if it has a plan."""
    quarter = Period.parse(cycle.split("/", 1)[1])
    key = framework.plans.plan_key(ORG, str(FinancialYear(quarter.start_year)), service)
    if not [p for p in framework.plans.list_for(ORG) if p.key == key]:
        return  # the quarter's year has no plans in the demo
    plan = framework.plans.get(key)
    for (_, _, _, statuses), action in zip(ACTIONS[service], plan.actions, strict=True):
        status = CODES[statuses[quarter.quarter - 1]]
        framework.plans.report_status(cycle, service, action.ref, status, note=NOTES.get(status, ""), by=by)
    for risk in plan.risks:  # on the register: reviewed with the return, as every operational risk is
        if not risk.withdrawn:
            note = f"Reviewed with the {quarter} return: {risk.controls.lower() or 'no new controls'}"
            framework.risks.review(cycle, risk.code, risk.likelihood, risk.impact, note=note, by=by)
