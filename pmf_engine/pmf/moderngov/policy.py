"""``policies/moderngov.yaml``: where each organisation's ModernGov site is, which of its
committees are the calendar's bodies, and which agenda item is the performance report.

The models are ``ModernGovPolicy`` and ``ModernGovSite`` in ``pmf.policy`` (beside the
framework's, which carry them); this module reads the file. The file is optional: without it
(or without an organisation in it) nothing is synchronised. Every committee a mapping names
must map to a body of ``calendar.bodies`` in ``framework.yaml``; a problem names the file,
its line and the field.

    organisations:
      TDC:
        base_url: https://democracy.example.gov.uk
        committees:                  # a ModernGov committee id, or its title, -> a calendar body
          134: cabinet
          Overview and Scrutiny Committee: scrutiny
        report_item: [performance, quarterly monitoring]
"""

from __future__ import annotations

from pathlib import Path

from pmf_engine.core.definition import validate
from pmf_engine.core.errors import DefinitionError
from pmf_engine.core.yamlload import Document, load_yaml, read_definition
from pmf_engine.pmf.policy import NO_MODERNGOV as NONE
from pmf_engine.pmf.policy import ModernGovPolicy, committee_key
from pmf_engine.pmf.policy import ModernGovSite as Site

__all__ = ["FILE", "NONE", "ModernGovPolicy", "Site", "committee_key", "load_moderngov", "read_moderngov"]

FILE = "moderngov.yaml"


def load_moderngov(policies_dir: Path, bodies: set[str] | frozenset[str]) -> ModernGovPolicy:
    """``moderngov.yaml`` in ``policies_dir`` (``NONE`` without one), every committee mapped to
    one of ``bodies``; ``DefinitionError`` naming the file, line and field of each problem."""
    path = policies_dir / FILE
    if not path.exists():
        return NONE
    return read_moderngov(path, bodies)


def read_moderngov(path: Path, bodies: set[str] | frozenset[str]) -> ModernGovPolicy:
    """The policy in ``path``, checked against the calendar's ``bodies``."""
    doc = load_yaml(read_definition(path), str(path))
    policy = validate(ModernGovPolicy, doc)
    problems = [
        doc.problem(
            ("organisations", org, "committees", _raw_key(doc, org, key)),
            f"unknown body {body!r}: the bodies are {', '.join(sorted(bodies))} "
            "(calendar.bodies in framework.yaml)",
        )
        for org, site in policy.organisations.items()
        for key, body in site.committees.items()
        if body not in bodies
    ]
    if problems:
        raise DefinitionError(problems)
    return policy


def _raw_key(doc: Document, org: str, key: str) -> str | int:
    """The committee's key as the file spells it (for its line): ``134``, ``Cabinet``."""
    raw = doc.data.get("organisations", {}).get(org, {}).get("committees", {})
    return next((k for k in raw if committee_key(k) == key), key)
