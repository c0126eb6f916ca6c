"""What a place and its spaces may say about themselves (the UI's space page): a photo
only as a path on this site, a price that is free or an amount, never both."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bookings.location import LocationIn, location_out
from bookings.resource import Price, ResourceIn

NAME = {"fi": "Kallion kirjasto"}


@pytest.mark.parametrize(
    "src",
    ["//evil.example/x.jpg", "https://evil.example/x.jpg", "/a/../b.jpg", "javascript:alert(1)",
     "/a b.jpg", "data:image/png;base64,AAAA", "/" + "a" * 300, "img/x.jpg"],
)  # fmt: skip
def test_a_photo_is_a_path_on_this_site(src: str) -> None:
    with pytest.raises(ValidationError):
        LocationIn(name=NAME, image={"src": src, "alt": {"fi": "Kuva"}})


def test_place_details_round_trip() -> None:
    data = LocationIn(
        name=NAME,
        address="Viides linja 11",
        description={"fi": "Ryhmätiloja"},
        accessibility=["Hissi"],
        image={"src": "/media/kallio.jpg", "alt": {"fi": "Ryhmätila"}},
    )
    doc = {"_id": "loc-1", "municipality": "helsinki", "kind": "branch",
           "timezone": "Europe/Helsinki", **data.model_dump(mode="json")}  # fmt: skip
    out = location_out(doc)
    assert out["image"] == {"src": "/media/kallio.jpg", "alt": {"fi": "Ryhmätila"}}
    assert out["accessibility"] == ["Hissi"] and out["description"] == {"fi": "Ryhmätiloja"}
    # a place made before these fields says nothing of them
    old = location_out({k: v for k, v in doc.items() if k not in ("image", "description")})
    assert old["image"] is None and old["description"] == {}


@pytest.mark.parametrize(
    "price",
    [{"free": False}, {"free": True, "amount": 3}, {"free": False, "amount": -1},
     {"free": False, "amount": 5, "currency": "euro"}, {"free": False, "amount": 1e9},
     {"free": False, "amount": 5, "per": "week"}],
)  # fmt: skip
def test_a_price_is_free_or_an_amount(price: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Price.model_validate(price)


def test_a_resource_may_state_price_and_terms() -> None:
    made = ResourceIn(
        location_id="loc-1", kind="studio", name={"fi": "Studio"},
        price={"free": False, "amount": 5, "per": "hour"}, terms={"fi": "Ei ruokaa."},
    )  # fmt: skip
    assert made.price is not None and made.price.amount == 5 and made.price.per == "hour"
    assert ResourceIn(location_id="l", kind="studio", name={"fi": "S"}).price is None
