"""``pmf serve``: the web application and, unless told otherwise, the scheduler worker in the
same process (APScheduler's background scheduler wakes the same sweep ``pmf worker`` runs)."""

from __future__ import annotations

import os
import secrets

import structlog
import uvicorn

from pmf_engine.engine import Engine
from pmf_engine.web.app import WebSettings, create_app
from pmf_engine.worker import Worker

log = structlog.get_logger()
DEMO_PASSWORD = "wexcombe-demo-2024"  # noqa: S105 - the example council's, printed at start


def web_settings(*, secure_cookies: bool) -> WebSettings:
    secret = os.environ.get("PMF_SECRET_KEY")
    if not secret:
        secret = secrets.token_urlsafe(32)
        log.warning(
            "web.ephemeral_secret", why="PMF_SECRET_KEY is not set: sessions end when the process stops"
        )
    return WebSettings(secret_key=secret, secure_cookies=secure_cookies)


def serve(
    engine: Engine, *, host: str, port: int, worker: bool, interval: float, secure_cookies: bool
) -> None:
    app = create_app(engine, web_settings(secure_cookies=secure_cookies))
    scheduler = None
    if worker:
        from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415

        sweeper = Worker(engine.store, engine.catalog, engine.clock, worker_id=f"web-{os.getpid()}")
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(sweeper.tick, "interval", seconds=interval, max_instances=1, coalesce=True)
        scheduler.start()
        log.info("worker.started", worker=sweeper.worker_id, interval=interval, in_process=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
