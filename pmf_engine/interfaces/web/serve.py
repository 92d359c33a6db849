"""``pmf serve``: the web application and, unless told otherwise, the scheduler worker in the
same process (APScheduler's background scheduler wakes the same sweep ``pmf worker`` runs)."""

from __future__ import annotations

import os
import secrets

import structlog
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from pmf_engine.app.logs import configure_logging
from pmf_engine.app.settings import Settings
from pmf_engine.app.wiring import Application, settle_heap
from pmf_engine.core.errors import InvalidInput
from pmf_engine.interfaces.web.app import WebSettings, create_app

log = structlog.get_logger()


def web_settings(settings: Settings, *, secure_cookies: bool) -> WebSettings:
    """The web app's settings: the configured secret key, or a random one for this process."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    if not secret:
        secret = secrets.token_urlsafe(32)
        log.warning(
            "web.ephemeral_secret",
            why="PMF_SECRET_KEY is not set: forms shown before a restart will be refused",
        )
    return WebSettings(
        secret_key=secret,
        secure_cookies=secure_cookies,
        session_hours=settings.session_hours,
        session_idle_minutes=settings.session_idle_minutes,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )


def app_from_environment() -> FastAPI:
    """The web app of one of ``pmf serve --workers N``'s processes, from the settings the
    parent published in the environment (uvicorn calls this in each worker process)."""
    settings = Settings.load()
    configure_logging(settings.log_format, settings.log_level)
    application = Application(settings, upgrade=False)  # the parent brought the schema up
    app = create_app(application.framework, web_settings(settings, secure_cookies=settings.secure_cookies))
    settle_heap()
    return app


def serve(
    application: Application,
    *,
    host: str,
    port: int,
    worker: bool,
    interval: float,
    secure_cookies: bool,
    workers: int = 1,
) -> None:
    """Serve the web app with uvicorn (and the worker in a background scheduler) until stopped.

    With ``workers`` above 1, uvicorn runs that many web processes, each building the app from
    the settings published here (one secret for all, so a form shown by one is accepted by
    another); the scheduler worker runs in this process only."""
    settings = application.settings
    if workers > 1:
        if application.rehearsal:
            raise InvalidInput("--workers", workers, "a rehearsal (--now) runs in one web process")
        application.store.dispose()  # opened (and migrated) here, once, before the web processes start
        secret = settings.secret_key or SecretStr(secrets.token_urlsafe(32))
        settings.model_copy(update={"secret_key": secret, "secure_cookies": secure_cookies}).publish()
    else:
        app = create_app(application.framework, web_settings(settings, secure_cookies=secure_cookies))
    scheduler = None
    if worker:
        from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415

        sweeper = application.worker(worker_id=f"web-{os.getpid()}")
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(sweeper.tick, "interval", seconds=interval, max_instances=1, coalesce=True)
        scheduler.start()
        log.info("worker.started", worker=sweeper.worker_id, interval=interval, in_process=True)
    settle_heap()
    try:
        if workers > 1:
            log.info("web.started", workers=workers, host=host, port=port)
            uvicorn.run(
                f"{__name__}:app_from_environment",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
            )
        else:
            uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
