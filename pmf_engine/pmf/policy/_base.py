"""What every section of ``framework.yaml`` shares: a frozen model refusing unknown keys, and
the name types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from pmf_engine.core.definition import Name

Hint = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=80)]
StatesOf = dict[Name, tuple[Name, ...]]
"""States by workflow name: ``{service_return: [requested, returned]}``."""


class _Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
