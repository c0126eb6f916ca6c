"""The envelope's wire form: CloudEvents leaves optional attributes out instead of null,
the signature covers that form, and envelopes written before (with `"subject": null`)
still parse and verify."""

from __future__ import annotations

import base64
import json

import pytest

from contracts import CloudEvent
from kit.signatures import (
    KID,
    SIG,
    EventSigner,
    SignatureVerifier,
    Signer,
    Unauthenticated,
    canonical,
    new_key,
    public_jwk,
)

KEY = new_key("helsinki", "1")
TYPE = "kohtaamo.identity.user.erased.v1"


def event(**extra: str) -> CloudEvent:
    return CloudEvent.model_validate(
        {
            "source": "/kohtaamo/helsinki/identity",
            "type": TYPE,
            "municipality": "helsinki",
            "data": {"user_id": "u1", "note": None},
            **extra,
        }
    )


def verifier() -> SignatureVerifier:
    return SignatureVerifier(
        [
            EventSigner(
                site="helsinki", municipalities=["helsinki"], jwks={"keys": [public_jwk(KEY)]}
            )
        ]
    )


def test_optional_attributes_are_left_out_not_null() -> None:
    plain = json.loads(event().model_dump_json())
    assert not {"subject", "correlationid", "causationid"} & set(plain)
    assert None not in plain.values()
    # A payload's own nulls are the payload's: they stay.
    assert plain["data"] == {"user_id": "u1", "note": None}
    given = json.loads(event(subject="user/u1", correlationid="c1").model_dump_json())
    assert given["subject"] == "user/u1" and given["correlationid"] == "c1"
    assert event().model_dump(mode="json").keys() == plain.keys()


def test_signed_form_has_no_nulls_and_verifies() -> None:
    sealed = json.loads(Signer(KEY).seal(event()))
    assert "subject" not in sealed and sealed[KID] == KEY["kid"]
    parsed = CloudEvent.model_validate(sealed)
    assert parsed.subject is None
    assert verifier().verify(sealed, parsed) == "helsinki"


def test_an_envelope_written_with_a_null_subject_still_parses_and_verifies() -> None:
    """What a site signed before this change: nulls in the document and the signature."""
    document = {
        "specversion": "1.0",
        "id": "old-1",
        "source": "/kohtaamo/helsinki/identity",
        "type": TYPE,
        "time": "2026-11-01T10:00:00Z",
        "subject": None,
        "datacontenttype": "application/json",
        "data": {"user_id": "u1"},
        "municipality": "helsinki",
        "correlationid": None,
        "causationid": None,
        KID: KEY["kid"],
    }
    signer = Signer(KEY)
    document[SIG] = base64.urlsafe_b64encode(signer.key.sign(canonical(document))).decode()
    parsed = CloudEvent.model_validate_json(json.dumps(document))
    assert parsed.subject is None and parsed.id == "old-1"
    assert verifier().verify(document, parsed) == "helsinki"
    # The check is over the document as received: dropping its nulls breaks it, so nothing
    # may re-serialise an envelope between the wire and the verifier.
    tidied = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(Unauthenticated, match="does not match"):
        verifier().verify(tidied, parsed)
