"""The demo council's library and its targets' story, beside ``demo``: the measures, history,
projects, risks, comparators and finance imported from ``sample`` files, next year's target
proposed and this year's revised."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection
from datetime import date
from pathlib import Path

from pmf_engine.core.period import Period
from pmf_engine.pmf import sample, sample_quality
from pmf_engine.pmf.framework import Framework


def load_measures(
    framework: Framework, org: str, first: Period, story: Period, opened: Period, quarters: Collection[Period]
) -> int:
    """Import the demo's measures library and the figures of ``quarters`` (of the quarters
    before ``story``, ``sample.history_rows``) as history; how many figures were imported."""
    with tempfile.TemporaryDirectory() as folder:
        measures = Path(folder) / "measures.csv"
        library = sample.measures_csv(first.start_year, opened.next().start_year, story.start_year)
        measures.write_text(library, encoding="utf-8")
        framework.performance.import_measures(org, measures, by="priya")
        if not quarters:
            return 0
        history = Path(folder) / "history.csv"
        history.write_text(sample.history_csv(story, quarters), encoding="utf-8")
        return framework.performance.import_history(org, history, by="priya")


def load_register(framework: Framework, org: str, story: Period, known_on: date) -> None:
    """Import the projects (as their file stood on ``known_on``: ``load_library`` imports it
    again as it is later) and the risk register, before the quarters that report on them."""
    with tempfile.TemporaryDirectory() as folder:
        projects, risks = Path(folder) / "projects.csv", Path(folder) / "risks.csv"
        projects.write_text(sample.projects_csv(story, known_on), encoding="utf-8")
        risks.write_text(sample.RISKS, encoding="utf-8")
        framework.projects.import_projects(org, projects, by="priya")
        framework.risks.import_risks(org, risks, by="priya")


def load_library(
    framework: Framework,
    org: str,
    story: Period,
    opened: Period,
    quarters: Collection[Period],
    *,
    earlier: Collection[Period] = (),
    imported: int = 0,
) -> str:
    """After the measures (``load_measures``, which imported the ``imported`` figures of the
    quarters ``earlier``) and the register (``load_register``), import the figures of
    ``quarters`` as history, the projects as their file is now, comparators and finance; the
    line that says what was loaded."""
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "history.csv": sample.history_csv(story, quarters),
            "projects.csv": sample.projects_csv(story),
            "comparators.csv": sample.comparators_csv(story),
            "finance.csv": sample_quality.finance_csv([story, opened]),
        }
        for name, text in files.items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        history = imported
        if quarters:
            history += framework.performance.import_history(org, Path(folder) / "history.csv", by="priya")
        framework.projects.import_projects(org, Path(folder) / "projects.csv", by="priya")
        framework.comparators.set_area(org, sample.GSS_CODE, by="adam")
        compared = framework.comparators.import_file(org, Path(folder) / "comparators.csv", by="priya")
        finance = framework.finance.import_finance(org, Path(folder) / "finance.csv", by="priya")[0]
    measures = len(framework.performance.measures(org))
    return (
        f"measures library: {measures} measures in {len(sample.THEMES)} themes, "
        f"{history} actuals of {len(quarters) + len(earlier)} earlier quarters imported as history, "
        f"{len(framework.projects.projects(org))} Council Plan projects, {finance} budget lines, "
        f"{len(framework.risks.register(org))} risks on the register, {compared.values} LG Inform "
        f"comparator values for {compared.sets} measures (area {sample.GSS_CODE})"
    )


def target_story(
    framework: Framework, org: str, following: Period, say: Callable[[str, str, str], None]
) -> None:
    """Targets through their lifecycle: next year's HOU-06 proposed by Housing and agreed by the
    performance team (awaiting the Leadership Team); PLA-02 revised from the quarter running now
    and approved by the Leadership Team (no reported quarter changes its RAG)."""
    targets = framework.targets
    next_year = f"{following.start_year + 1}-{(following.start_year + 2) % 100:02d}"
    why = "Sites A and B complete next year; 10 homes more than this year's plan"
    proposed = targets.propose(org, "HOU-06", next_year, 130, reason=why, by="hannah")
    say("hannah", "target proposed", f"HOU-06 {next_year}: 130")
    targets.agree(org, proposed.id, reason="Realistic against the delivery programme", by="priya")
    say("priya", "target agreed", f"HOU-06 {next_year}: awaits the Leadership Team")
    year = str(following)[:7]
    why = (
        "New national definition of minor applications counts householder extensions; the service "
        "is two officers short until the spring"
    )
    revision = targets.revise(org, "PLA-02", year, 65, effective_from=str(following), reason=why, by="pete")
    targets.agree(org, revision.id, reason="Agreed at Leadership Team; review at year end", by="lena")
    say("lena", "target revised", f"PLA-02 {year}: 70 -> 65 from {following.tag}")
