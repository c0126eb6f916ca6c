"""The first platform admin of a new site (who then adds municipalities and admins over
the API). `python -m identity.bootstrap <municipality> <email> "<display name>"`; the
password comes from KOHTAAMO_BOOTSTRAP_PASSWORD or is asked for."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from typing import Any

from identity import municipality
from identity.core import Identity, identity_of
from identity.errors import IdentityError
from identity.main import service
from identity.municipality import MunicipalityIn
from identity.user import SignUp, sign_up


async def create_platform_admin(
    ctx: Identity, *, slug: str, email: str, display_name: str, password: str
) -> dict[str, Any]:
    """Creates the municipality if it is missing, then the account with the platform
    admin and admin roles. Refuses if the email already has an account there."""
    await municipality.ensure(ctx, MunicipalityIn(slug=slug, name={"fi": slug.capitalize()}))
    data = SignUp(
        municipality=slug,
        email=email,
        password=password,
        display_name=display_name,
        accept_terms=True,
    )
    user, _ = await sign_up(ctx, data, roles=["platform_admin", "admin"])
    return user


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit('usage: python -m identity.bootstrap <municipality> <email> "<name>"')
    slug, email, name = sys.argv[1:]
    password = os.environ.get("KOHTAAMO_BOOTSTRAP_PASSWORD") or getpass.getpass("Password: ")

    async def go() -> str:
        svc = service()
        await svc.start()
        try:
            ctx = identity_of(svc)
            user = await create_platform_admin(
                ctx, slug=slug, email=email, display_name=name, password=password
            )
            await svc.relay.publish_pending()
            return str(user["_id"])
        except IdentityError as problem:
            raise SystemExit(f"refused: {problem.detail}") from None
        finally:
            await svc.stop()

    print(f"platform admin created: {asyncio.run(go())}")


if __name__ == "__main__":
    main()
