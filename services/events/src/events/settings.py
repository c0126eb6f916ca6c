"""Settings of the events service (`KOHTAAMO_` environment variables)."""

from __future__ import annotations

from pydantic import Field

from kit.settings import KitSettings


class EventsSettings(KitSettings):
    service: str = "events"
    # Municipality -> IANA time zone; others fall back to `timezone`.
    municipality_timezones: dict[str, str] = Field(
        default_factory=lambda: {"helsinki": "Europe/Helsinki", "kouvola": "Europe/Helsinki"}
    )
    # Concurrent sign-ups for one event are written in batches of at most this many.
    registration_batch: int = 200
    page_max: int = 100
    # Events per bulk import (POST /events/import): ~1 KB each, under the 1 MiB body limit.
    import_max: int = Field(default=500, ge=1, le=1000)
    # Cache-Control max-age of anonymous public reads (lists, events, feeds): short, so a
    # change shows within seconds; revalidation by ETag costs a 304.
    cache_max_age_s: int = 10
    # The in-memory catalogue (events/catalogue.py): events named on the bus are read again
    # after at most this long (gathered meanwhile); past this many public events a replica
    # does not hold them and reads go to the store (memory stays bounded: 2.5-3.5 KB an
    # event resident, so 150,000 fit the manifests' 768 MiB limit; docs/operations.md).
    catalogue_refresh_ms: int = 50
    catalogue_max_events: int = 150_000

    def timezone_of(self, municipality: str) -> str:
        return self.municipality_timezones.get(municipality, self.timezone)
