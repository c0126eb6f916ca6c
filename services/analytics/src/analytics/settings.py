"""Analytics settings (`KOHTAAMO_` environment variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from kit.settings import KitSettings


class AnalyticsSettings(KitSettings):
    service: str = "analytics"
    # The network's pseudonym key (shared with identity only). No default: a site that
    # has not configured it must not start and silently produce unlinkable statistics.
    pseudonym_key: SecretStr
    # Counts of people (or of their actions) below this are suppressed in every report,
    # export, chart and dashboard figure.
    suppression_threshold: int = Field(default=5, ge=1)
    # Events applied per transaction by each consumer, and how long a batch waits to fill.
    # Every store operation has a cost of its own (a round trip through the store's
    # server), and a batch's operations are about the same in number whatever its size:
    # over 6,000 events 500 ingested 12% faster than 200, and 1,000 9% faster than 500. A
    # batch too large for a transaction (the embedded store's limit is a share of its
    # cache) fails and is applied in halves (kit.batching).
    ingest_batch: int = Field(default=1000, ge=1)
    ingest_batch_wait_ms: int = Field(default=50, ge=0)
