"""Stop gracefully on SIGTERM (spot/preemptible machines) and Ctrl-C: finish the step, save, exit."""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("headstart.engine")


class StopRequest:
    """A flag set by SIGTERM/SIGINT; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals only reach the main thread
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("%s received: saving a checkpoint after this step, then stopping "
                    "(Ctrl-C again to abort without saving)", signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
