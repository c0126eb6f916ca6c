"""KOHTAAMO_AMQP_PASSWORD_FILE: the broker password from a file (docker compose's generated
ones), replacing the URL's; a missing or empty file is a clear error at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kit.settings import KitSettings


def test_the_file_gives_the_urls_password(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret/with:odd@chars\n")
    settings = KitSettings(
        amqp_url="amqp://kohtaamo-events@rabbitmq:5672/site",
        amqp_password_file=str(secret),
    )
    url = settings.amqp_url.get_secret_value()
    assert url == "amqp://kohtaamo-events:s3cret%2Fwith%3Aodd%40chars@rabbitmq:5672/site"
    # Without the setting the URL is taken as it is.
    assert KitSettings(amqp_url="amqp://u:p@h:5672/").amqp_url.get_secret_value() == (
        "amqp://u:p@h:5672/"
    )


@pytest.mark.parametrize("content", [None, "  \n"])
def test_a_missing_or_empty_file_is_refused(tmp_path: Path, content: str | None) -> None:
    secret = tmp_path / "password"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ValidationError, match="amqp_password_file"):
        KitSettings(amqp_url="amqp://u@h:5672/", amqp_password_file=str(secret))
