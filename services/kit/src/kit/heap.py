"""The collector and the long-lived heap. A service process builds a large, long-lived
heap at startup (imports, the app, schemas, the broker and store clients, the events
catalogue); each full collection scans it all again, and every request waits for it. In a
500-mail fan-out that was about 0.35 s of 3 s of work; in the events process with 10,000
catalogued events a full collection paused every request for 18-414 ms (load average
10-12), every few seconds under load. Freezing the heap after startup keeps the later
collections to what was made since."""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_heap() -> bool:
    """Collect, then move every live object to the permanent generation. Once per process
    (more services or restarts in one process, as in tests, freeze only the first time: a
    frozen object in a reference cycle is never collected); returns whether this call
    froze. Called by the kit once a service's start-up hooks have run."""
    global _frozen
    if _frozen:
        return False
    freeze_grown()
    _frozen = True
    return True


def freeze_grown() -> None:
    """Collect what is garbage now, then freeze what is live: for a process whose
    long-lived data grew well past its startup heap (a bulk import into the catalogue).
    What is live at that moment and later dies in a reference cycle stays: call it
    seldom, after growth, never per request."""
    gc.collect()  # what is garbage now must not be frozen with the rest
    gc.freeze()
