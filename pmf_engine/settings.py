"""Settings: one object built at the edge (CLI, app) from options and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pmf_engine.store import DEFAULT_URL

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_dir(name: str) -> Path:
    """``./NAME`` if there is one, else the copy beside the package (a source checkout)."""
    here = Path.cwd() / name
    return here if here.is_dir() else _REPO_ROOT / name


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_URL
    workflows_dir: Path
    policies_dir: Path
    log_format: str = "auto"
    log_level: str = "info"
    templates_dir: Path | None = None
    """A council's own message templates (``reminder``, ``escalation``, ``digest``)."""

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: str | Path | None) -> Settings:
        """Options given win over ``PMF_*`` environment variables, which win over defaults."""
        env = os.environ if environ is None else environ
        given = {k: v for k, v in overrides.items() if v is not None}

        def pick(key: str, var: str, default: str | Path) -> str | Path:
            return given.get(key) or env.get(var) or default

        return cls(
            database_url=str(pick("database_url", "PMF_DATABASE_URL", DEFAULT_URL)),
            workflows_dir=Path(pick("workflows_dir", "PMF_WORKFLOWS", _default_dir("workflows"))),
            policies_dir=Path(pick("policies_dir", "PMF_POLICIES", _default_dir("policies"))),
            log_format=str(pick("log_format", "PMF_LOG_FORMAT", "auto")),
            log_level=str(pick("log_level", "PMF_LOG_LEVEL", "info")),
            templates_dir=Path(env["PMF_TEMPLATES"]) if env.get("PMF_TEMPLATES") else None,
        )

    @property
    def roles_path(self) -> Path:
        return self.policies_dir / "roles.yaml"
