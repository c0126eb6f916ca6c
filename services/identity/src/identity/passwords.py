"""Password hashing with Argon2id (argon2-cffi), cost from settings."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from identity.settings import IdentitySettings

MIN_LENGTH = 10
MAX_LENGTH = 256


class Passwords:
    def __init__(self, settings: IdentitySettings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verifying against this when the account does not exist costs the same time, so
        # response times do not reveal which emails have accounts.
        self._dummy = self.hasher.hash("not-a-real-password")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(hashed or self._dummy, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        return self.hasher.check_needs_rehash(hashed)


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if email and password.lower() == email.lower():
        return "must not be the email address"
    return None


async def hash_password(passwords: Passwords, password: str) -> str:
    # Argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(passwords.hash, password)


async def verify_password(passwords: Passwords, hashed: str | None, password: str) -> bool:
    return await asyncio.to_thread(passwords.verify, hashed, password)
