"""Sample data quality and finance for the demo council: how sure each figure is, the
definitions of the rates auditors ask about, the evidence services attach, and each service's
budget and forecast outturn per quarter (a CSV the finance team would export). Deterministic."""

from __future__ import annotations

import csv
import io
import random

from pmf_engine.core.period import Period

QUALITY = {
    "HOU-02": "provisional",  # a snapshot taken before the month-end reconciliation
    "WAS-01": "provisional",  # WasteDataFlow: validated by the Environment Agency months later
    "WAS-07": "estimated",  # from fuel-card litres, not the telematics
    "LEI-01": "estimated",  # a turnstile at Riverside failed for nine days in May
    "COM-02": "estimated",
}
"""Each figure's quality flag where it is not ``validated``."""

DATA = {
    "HOU-01": ("Average calendar days from a council home falling empty to its new tenancy starting.",
               "Count void days of lets in the quarter; exclude major works voids agreed in advance.",
               "", "", "housing.systems"),
    "HOU-04": ("Rent collected in the year to date as a percentage of the rent due, arrears excluded.",
               "From the rent account's period-end report, after the last direct debit run.",
               "Rent collected", "Rent due", "income.team"),
    "PLA-01": ("Major planning applications decided within 13 weeks or an agreed extension of time.",
               "As reported to DLUHC on PS2; withdrawn applications are left out.",
               "Major applications decided in time", "Major applications decided", "planning.support"),
    "WAS-01": ("Household waste sent for reuse, recycling or composting, as a share of all household waste.",
               "WasteDataFlow question 100; provisional until the Environment Agency validates it.",
               "Tonnes reused, recycled or composted", "Tonnes of household waste collected", "waste.data"),
    "REV-01": ("Council tax collected in the year as a percentage of the net collectable debit.",
               "From the QRC4 return's figures at the quarter's end.",
               "Council tax collected", "Net collectable debit", "revenues.team"),
    "COM-05": ("Licensing applications decided within the statutory or published time.",
               "Count decisions in the quarter; an application still open is not counted.",
               "Applications decided in time", "Applications decided", "licensing.team"),
}  # fmt: skip
"""Definition, guidance, numerator, denominator and data owner of the measures auditors test."""

BUDGETS = {
    "HOUSING": (5_200_000, 0.046, "Temporary accommodation demand above the budgeted 55 households"),
    "PLANNING": (1_900_000, -0.021, "Two vacant planning officer posts"),
    "WASTE": (6_800_000, 0.018, "Fuel and agency drivers during the strike"),
    "LEISURE": (3_100_000, -0.005, ""),
    "REVENUES": (2_400_000, 0.003, ""),
    "COMMUNITIES": (1_300_000, -0.012, "Grant round underspent: awards made in Q2"),
}
"""Each service's annual net budget, its forecast variance (a share of budget) and why."""


def finance_csv(periods: list[Period]) -> str:
    """Each service's budget and forecast outturn for ``periods``: the quarter's share of the
    annual budget, the story's variance moved a little in later quarters."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["service", "period", "budget", "forecast_outturn", "note"])
    for i, period in enumerate(periods):
        rng = random.Random(f"finance {period}")  # noqa: S311 - sample figures, not secrets
        for service, (annual, variance, note) in BUDGETS.items():
            budget = annual / 4
            moved = variance + (rng.uniform(-0.01, 0.01) if i else 0)
            writer.writerow([service, str(period), f"{budget:.0f}", f"{budget * (1 + moved):.0f}", note])
    return out.getvalue()


def evidence_pdf(title: str) -> bytes:
    """A one-page PDF saying ``title``: the extract a service attaches as evidence."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{n} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


EVIDENCE = {
    "HOU-01": "Wexcombe DC voids report: lets completed this quarter",
    "WAS-01": "WasteDataFlow return: household tonnages this quarter",
    "PLA-01": "PS2 extract: major applications decided",
    "REV-01": "QRC4 extract: council tax collection at quarter end",
}
"""The measures whose figures the demo's services support with a PDF extract."""
