"""Whether this process is shutting down: set on SIGTERM, read by the readiness probe.

uvicorn stops accepting connections on SIGTERM and lets requests in flight finish; from that moment
readiness answers 503, so anything that still asks (a load balancer on a kept-alive connection)
stops sending traffic here.
"""

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger("app.lifecycle")

draining = threading.Event()


def watch_for_shutdown() -> None:
    """Chain onto the SIGTERM and SIGINT handlers in place (uvicorn's): mark draining, then defer.

    Called at app startup, once uvicorn has installed its handlers. Off the main thread (an app
    run by a test client) signals cannot be watched, and nothing is done.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: object = previous) -> None:
            if not draining.is_set():
                draining.set()
                logger.info("shutdown started: readiness now fails, requests in flight finish")
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)
