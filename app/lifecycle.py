"""Shutdown as clients see it: on SIGTERM a drain period, then uvicorn's graceful shutdown.

During the drain (APP_DRAIN_SECONDS) the listener stays open and every request is still served,
but `/info/ready` answers 503 and every response carries `Connection: close` (app.middleware): a
proxy or load balancer that checks readiness stops sending here, and kept-alive clients leave after
their next answer instead of finding their connection closed under them. Then the signal goes on to
uvicorn, which stops accepting and lets requests in flight finish (APP_TIMEOUT_GRACEFUL_SHUTDOWN).
"""

import asyncio
import contextvars
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger("app.lifecycle")

draining = threading.Event()

# The drain's end, until it comes: a second SIGTERM, or SIGINT, passes on at once and cancels it.
drain_end: list[asyncio.TimerHandle] = []

Handler = Callable[[int, FrameType | None], Any] | int | None


def watch_for_shutdown(drain_seconds: float) -> None:
    """Chain onto the SIGTERM and SIGINT handlers in place (uvicorn's) and drain before deferring.

    Called at app startup, once uvicorn has installed its handlers. SIGTERM starts the drain and
    passes on when it ends; SIGINT (Ctrl+C) and a second SIGTERM pass on at once. Off the main
    thread (an app run by a test client) signals cannot be watched, and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Handler = previous) -> None:
            # A signal handler runs inside whatever it interrupts, a request included: the work is
            # done in the event loop, in an empty context, so no request's id is logged with it.
            drain = drain_seconds if signum == signal.SIGTERM and not draining.is_set() else 0
            draining.set()
            loop.call_soon_threadsafe(
                start_drain, loop, signum, previous, drain, context=contextvars.Context()
            )

        signal.signal(sig, handler)


def start_drain(
    loop: asyncio.AbstractEventLoop, signum: int, previous: Handler, seconds: float
) -> None:
    if seconds > 0:
        logger.info(
            "shutdown started: draining for %s s (readiness fails, connections close after "
            "their answer), then requests in flight finish",
            seconds,
        )
        drain_end.append(loop.call_later(seconds, pass_on, signum, previous))
    else:
        logger.info("shutdown started: readiness now fails, requests in flight finish")
        while drain_end:
            drain_end.pop().cancel()
        pass_on(signum, previous)


def pass_on(signum: int, previous: Handler) -> None:
    """Do what the signal would have done without us."""
    if callable(previous):
        previous(signum, None)
    elif previous in (signal.SIG_DFL, None):
        # The default action (termination): it would otherwise be swallowed here.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
