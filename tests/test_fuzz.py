"""Fuzzing the loaders: whatever the input, only the project's own errors, quickly."""

from __future__ import annotations

import contextlib
import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmf_engine.core.deadlines import parse_rule
from pmf_engine.core.definition import parse_workflow
from pmf_engine.core.errors import DataFileError, DefinitionError
from pmf_engine.pmf.meetings import read_meetings
from tests.conftest import WORKFLOWS

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
SHIPPED = (WORKFLOWS / "quarterly_cycle.yaml").read_text()

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.floats(allow_nan=False))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "version",
                    "initial",
                    "states",
                    "transitions",
                    "children",
                    "label",
                    "trigger",
                    "source",
                    "dest",
                    "roles",
                    "guards",
                    "terminal",
                    "deadline",
                    "x",
                ]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=30,
)


def _only_our_errors(text: str) -> None:
    try:
        parse_workflow(text, "fuzz.yaml")
    except DefinitionError as exc:
        assert all(p.file == "fuzz.yaml" for p in exc.problems)


@FAST
@given(st.text(max_size=600))
def test_any_text(text: str) -> None:
    _only_our_errors(text)


@FAST
@given(documents)
def test_any_yaml_shaped_document(document: object) -> None:
    _only_our_errors(yaml.safe_dump(document))


@FAST
@given(
    st.integers(min_value=0, max_value=len(SHIPPED) - 1),
    st.text(alphabet=string.printable, max_size=8),
    st.integers(0, 8),
)
def test_mutated_shipped_workflow(at: int, insert: str, cut: int) -> None:
    _only_our_errors(SHIPPED[:at] + insert + SHIPPED[at + cut :])


@FAST
@given(st.text(max_size=80))
def test_deadline_rules(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_rule(text)


@FAST
@given(st.binary(max_size=500), st.sampled_from([".csv", ".yaml", ".ics"]))
def test_calendar_import_of_any_bytes(tmp_path_factory: object, data: bytes, suffix: str) -> None:
    folder: Path = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = folder / f"meetings{suffix}"
    path.write_bytes(data)
    with contextlib.suppress(DataFileError):
        read_meetings(path)


@FAST
@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.text(max_size=20), st.text(max_size=10)).map(
            lambda r: ",".join(
                c.replace(",", " ").replace("\n", " ").replace("\r", " ").replace('"', "") for c in r
            )
        ),
        max_size=8,
    )
)
def test_calendar_csv_rows(tmp_path_factory: object, rows: list[str]) -> None:
    folder: Path = tmp_path_factory.mktemp("fuzzcsv")  # type: ignore[attr-defined]
    path = folder / "meetings.csv"
    path.write_text("body,starts,title\n" + "\n".join(rows))
    try:
        read_meetings(path)
    except DataFileError as exc:
        assert all(p.file == str(path) for p in exc.problems)


@FAST
@given(st.binary(max_size=400))
def test_measure_and_actual_csv_of_any_bytes(tmp_path_factory: object, data: bytes) -> None:
    from pmf_engine.pmf.performance import read_actuals, read_measures

    folder: Path = tmp_path_factory.mktemp("fuzzperf")  # type: ignore[attr-defined]
    path = folder / "file.csv"
    path.write_bytes(data)
    for reader in (read_actuals, read_measures):
        with contextlib.suppress(DataFileError):
            reader(path)
