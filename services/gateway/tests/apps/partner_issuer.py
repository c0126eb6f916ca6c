"""A partner municipality's token issuer as its own process: serves the JWKS of the key in
PARTNER_KEY_FILE (PEM) for the issuer PARTNER_ISSUER, like a partner's identity would."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from kit.testing import TestIssuer

issuer = TestIssuer(os.environ["PARTNER_ISSUER"])
issuer.keys["k1"] = serialization.load_pem_private_key(
    Path(os.environ["PARTNER_KEY_FILE"]).read_bytes(), None
)
app = issuer.app
