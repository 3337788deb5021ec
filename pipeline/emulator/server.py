"""moto's AWS APIs on one port speaking HTTP/1.1 and cleartext HTTP/2, served by hypercorn.

moto's own server (werkzeug) speaks only HTTP/1.1 and closes the connection after each reply, but
the Java KCL's Kinesis client always speaks HTTP/2, with prior knowledge and no TLS. hypercorn
serves moto's WSGI app unchanged with h11 and h2c (upgrade and prior knowledge) on the same
socket. :func:`serve` backs the ``pipeline emulator`` command; :class:`EmbeddedEmulator` runs the
same server on a background thread for tests and demos. Both install the fidelity patches and
run the Firehose interval timer. The server needs no credentials or environment: moto accepts
any signature, so only clients need (dummy) credentials.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from types import TracebackType

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from pipeline.emulator.calls import CallLog
from pipeline.emulator.faults import FaultInjector
from pipeline.emulator.firehose import FlushTimer
from pipeline.emulator.patches import install_patches
from pipeline.emulator.routes import EmulatorRoutes, WSGIApp

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024**3  # S3 PutObject bodies; hypercorn's default is 16 MiB


def build_app() -> WSGIApp:
    """moto's dispatcher (as ``moto_server`` builds it) behind the emulator's own routes."""
    install_patches()
    return EmulatorRoutes(CallLog(FaultInjector(DomainDispatcherApplication(create_backend_app))))


def _config(bind: str, graceful_timeout_s: float) -> Config:
    config = Config()
    config.bind = [bind]
    config.wsgi_max_body_size = MAX_BODY_BYTES
    config.graceful_timeout = graceful_timeout_s
    config.include_server_header = False  # moto sets its own Server and Date headers
    config.include_date_header = False
    config.errorlog = logging.getLogger("hypercorn.error")  # a Logger: hypercorn adds no handler
    return config


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(host: str = "127.0.0.1", port: int = 4566) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then shut down gracefully."""
    app = build_app()
    config = _config(_bind_address(host, port), graceful_timeout_s=3.0)
    timer = FlushTimer()
    timer.start()
    log.info("AWS emulator on http://%s (HTTP/1.1 and h2c)", _bind_address(host, port))
    try:
        # With no shutdown trigger hypercorn installs SIGINT/SIGTERM handlers on the loop.
        asyncio.run(hypercorn_serve(app, config, mode="wsgi"))
    finally:
        timer.stop()
    log.info("AWS emulator stopped")


class EmbeddedEmulator:
    """The emulator on a background thread (its own event loop), for tests and demos.

    ``port=0`` picks a free port. Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 30.0):
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._timer: FlushTimer | None = None

    @property
    def endpoint_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmbeddedEmulator:
        """Start serving; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator was already started")
        app = build_app()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        # hypercorn adopts the bound socket ("fd://") and closes it at shutdown.
        config = _config(f"fd://{sock.detach()}", graceful_timeout_s=1.0)
        thread = threading.Thread(
            target=self._run, args=(app, config), name=f"emulator-{self.port}", daemon=True
        )
        self._thread = thread
        thread.start()
        try:
            self._wait_until_accepting(thread)
        except BaseException:
            self.stop()
            raise
        self._timer = FlushTimer()
        self._timer.start()
        log.info("embedded AWS emulator on %s", self.endpoint_url)
        return self

    def _run(self, app: WSGIApp, config: Config) -> None:
        try:
            asyncio.run(self._serve(app, config))
        except BaseException as error:  # start() reports it; it must not die with the thread
            self._error = error
            log.exception("embedded emulator on port %d failed", self.port)

    async def _serve(self, app: WSGIApp, config: Config) -> None:
        self._shutdown = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        await hypercorn_serve(app, config, shutdown_trigger=self._shutdown.wait, mode="wsgi")

    def _wait_until_accepting(self, thread: threading.Thread) -> None:
        """Poll-connect until the server accepts (a fixed sleep would be slow or flaky)."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return
            except OSError as error:
                if not thread.is_alive():
                    raise RuntimeError(f"the emulator failed to start: {self._error}") from error
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the emulator did not accept connections on {self.endpoint_url} "
                        f"within {self.start_timeout_s} s"
                    ) from error
            thread.join(0.02)

    def stop(self) -> None:
        """Stop serving, close the port and stop the Firehose timer (idempotent)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._shutdown is not None:
            self._loop.call_soon_threadsafe(self._shutdown.set)
        thread.join(timeout=30.0)
        self._loop = self._shutdown = None
        if thread.is_alive():
            raise RuntimeError(f"the emulator on {self.endpoint_url} did not stop within 30 s")
        log.info("embedded AWS emulator on %s stopped", self.endpoint_url)

    def __enter__(self) -> EmbeddedEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
