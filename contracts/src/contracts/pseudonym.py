"""The keyed hash that turns a user id into a pseudonymous participant key. Identity and
analytics use the same key (setting `KOHTAAMO_PSEUDONYM_KEY`); nobody else needs it."""

from __future__ import annotations

import hashlib
import hmac


def participant_key(user_id: str, key: str) -> str:
    if not key:
        raise ValueError("pseudonym key is not configured")
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()
