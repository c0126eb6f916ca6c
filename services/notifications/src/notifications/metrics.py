"""The notifications service's own metrics: notices by channel and outcome."""

from __future__ import annotations

from prometheus_client import Counter

NOTICES_SENT = Counter(
    "kohtaamo_notices_sent_total", "Notices handed to their channel (mail, SMS)", ["channel"]
)
NOTICES_FAILED = Counter(
    "kohtaamo_notices_failed_total",
    "Notices that failed for good (a permanent error, or every retry used)",
    ["channel"],
)
NOTICES_RETRIED = Counter(
    "kohtaamo_notices_retried_total",
    "Notice sends that failed and are tried again later",
    ["channel"],
)
