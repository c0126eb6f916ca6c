"""The events service's parts, built by its factory (main.py) and kept with the service:
`svc.part(Parts).catalogue`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Types only: the catalogue reads events and searches, which find it here.
    from events.catalogue import Catalogue
    from events.registration import Registrar


@dataclass(frozen=True)
class Parts:
    registrar: Registrar  # sign-ups and cancellations, written in batches per event
    catalogue: Catalogue  # this replica's in-memory public events
