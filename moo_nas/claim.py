"""A run's claim by the process executing it: :class:`Heartbeat` refreshes it from a thread, so
that a second process refuses the run and a dead owner's claim can be taken over
(:meth:`moo_nas.store.Store.claim_run`)."""

from __future__ import annotations

import threading

from .store import Store

#: seconds between heartbeats of a run's claim, and without one before it may be taken over
HEARTBEAT_S, CLAIM_GRACE_S = 5.0, 30.0


class Heartbeat:
    """Refreshes a run's claim from a thread with its own connection; ``lost`` is set when
    another process took the claim over."""

    def __init__(self, store: Store, run_id: int, owner: str, interval: float = HEARTBEAT_S):
        self.path, self.run_id, self.owner, self.interval = store.path, run_id, owner, interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        store = Store(self.path)
        try:
            while not self._stop.wait(self.interval):
                if not store.heartbeat(self.run_id, self.owner):
                    self.lost.set()
                    return
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
