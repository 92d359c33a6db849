"""The quarterly committee report: HTML (self-contained, accessible, printable), PDF and XLSX.

Per Council Plan theme a count of green, amber and red with a bar chart; each measure with
actual, target, RAG with the rule applied, direction of travel and a small chart of its last
eight quarters; the exception reports; and timeliness: working days from the end of the
quarter to each stage the cycle reached, from the audit log.

The annual report at quarter 4 is ``annual`` (a year's quarters, outturn against the original
and revised annual targets, direction of travel over the years, what went well and the reds
with the director's comments; a public version without restricted narrative), frozen with its
public version at the Q4 sign-off (``annual_snapshot``).

``content`` says what the report holds and gathers it, ``snapshot`` freezes and verifies it,
``charts`` draws its SVG, ``rendering`` writes HTML and PDF, ``workbook`` writes XLSX; the
names other layers use are re-exported here (``report.gather``, ``report.html``, ...).
"""

from __future__ import annotations

from pmf_engine.pmf.report.annual import AnnualMeasure, AnnualReport, annual_in
from pmf_engine.pmf.report.annual_snapshot import annual_report, canonical_annual, verify_annual
from pmf_engine.pmf.report.charts import COLOURS, history_chart, sparkline, theme_chart
from pmf_engine.pmf.report.content import (
    Content,
    Frozen,
    ReportData,
    Restatement,
    Timeliness,
    canonical,
    content_in,
    gather,
)
from pmf_engine.pmf.report.rendering import ARROWS, annual_html, annual_pdf, html, pdf, print_page
from pmf_engine.pmf.report.snapshot import freeze, verify_frozen
from pmf_engine.pmf.report.workbook import xlsx

__all__ = [
    "ARROWS",
    "COLOURS",
    "AnnualMeasure",
    "AnnualReport",
    "Content",
    "Frozen",
    "ReportData",
    "Restatement",
    "Timeliness",
    "annual_html",
    "annual_in",
    "annual_pdf",
    "annual_report",
    "canonical",
    "canonical_annual",
    "content_in",
    "freeze",
    "gather",
    "history_chart",
    "html",
    "pdf",
    "print_page",
    "sparkline",
    "theme_chart",
    "verify_annual",
    "verify_frozen",
    "xlsx",
]
