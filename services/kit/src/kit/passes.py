"""Check-in passes: what a person shows at the desk for a booking or an event
registration, as a QR code or typed. A pass is 120 random bits (never derived from an id,
so knowing ids gives nothing); the service that holds the booking or registration looks it
up, checks the staff member's role and municipality, and checks in once.

Its first letter says which service holds it (the UI sends it there); the rest is base32,
so case, spaces and dashes a person or a scanner adds do not matter."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from kit.conditional import bump

BOOKING = "B"
REGISTRATION = "R"

_PASS = re.compile(r"^[BR][A-Z2-7]{24}$")
_NOISE = re.compile(r"[\s-]")


def new_pass(kind: str) -> str:
    """A fresh pass of `kind` (BOOKING or REGISTRATION)."""
    if kind not in (BOOKING, REGISTRATION):
        raise ValueError(f"not a pass kind: {kind!r}")
    return kind + base64.b32encode(secrets.token_bytes(15)).decode()


def parse(text: str, kind: str) -> str | None:
    """The pass of `kind` in what was typed or scanned, or None when it is not one."""
    value = _NOISE.sub("", text).upper()
    if len(value) > 64 or not _PASS.match(value) or value[0] != kind:
        return None
    return value


async def backfill(
    collection: AsyncCollection[dict[str, Any]],
    kind: str,
    still_usable: dict[str, Any],
    *,
    batch: int = 500,
) -> int:
    """Give a pass to each document matching `still_usable` that was written before passes
    existed (no `checkin_pass` field at all: an erased one's is null and stays so). Safe to
    run at every start-up and by several replicas at once: each pass is set only where the
    field is still missing, so of two replicas one writes it and the other matches nothing,
    and nothing is left to do on later starts. Returns how many this call gave."""
    missing = {**still_usable, "checkin_pass": {"$exists": False}}
    given = 0
    while True:
        found = await collection.find(missing, {"_id": 1}, limit=batch).to_list()
        for doc in found:
            done = await collection.update_one(
                {"_id": doc["_id"], "checkin_pass": {"$exists": False}},
                bump({"$set": {"checkin_pass": new_pass(kind)}}),
            )
            given += done.modified_count
        if len(found) < batch:
            return given
