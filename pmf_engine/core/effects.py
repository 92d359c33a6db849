"""Named effects: what a transition does besides moving the instance, inside the same
transaction as the move and its audit entry (so both happen, or neither).

A workflow names them beside a transition (``effects: [freeze_report]``); unknown names fail
when the catalog loads. The shipped cycle freezes the committee report's content when it
passes Leadership Team sign-off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pmf_engine.core.engine import Engine


@dataclass(frozen=True)
class EffectContext:
    engine: Engine
    session: Session
    instance_id: int
    instance: str
    trigger: str
    actor: str
    now: datetime


Effect = Callable[[EffectContext], None]
EFFECTS: dict[str, Effect] = {}


def effect(name: str) -> Callable[[Effect], Effect]:
    def register(func: Effect) -> Effect:
        if name in EFFECTS:
            raise ValueError(f"effect {name!r} is already registered")
        EFFECTS[name] = func
        return func

    return register


@effect("freeze_report")
def freeze_report(ctx: EffectContext) -> None:
    """Store the committee report's content as it stands and put its hash in the audit chain."""
    from pmf_engine.pmf.report import freeze  # noqa: PLC0415 - the report builds on the engine

    freeze(ctx)
