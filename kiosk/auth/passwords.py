"""Password hashing with argon2id (argon2-cffi), rehashing and timing-safe verification.

Parameters (median verify on the project's 2-core machines while shared with other
builds; ``benchmarks/password_hash.py`` prints them again, docs/staff-accounts.md has the
table):

* OWASP's minimum, t=2, m=19 MiB, p=1: 45-64 ms;
* **chosen: t=3, m=64 MiB, p=1: 270-380 ms** (argon2-cffi's default, RFC 9106's "low
  memory" choice, is the same with p=4: as much work, and slower on two shared cores).

The chosen setting costs an attacker about 5 times OWASP's minimum per guess (memory x
passes: 64 x 3 against 19 x 2) while a sign-in stays well under half a second. A staff
member signs in a few times a day and confirms each countersignature with their password,
so a third of a second is not felt; more would be, on a machine the kiosk shares.

When the parameters change, a successful sign-in rehashes the password
(:attr:`Verification.needs_rehash`). An unknown user name is checked against a dummy hash
of the same parameters, so the time taken does not say whether the name exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    time_cost: int
    memory_cost: int
    """KiB."""
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=self.hash_len,
            salt_len=self.salt_len,
            type=Type.ID,
        )


PARAMETERS = Argon2Parameters(time_cost=3, memory_cost=64 * 1024, parallelism=1)
"""What new passwords are hashed with (see the module docstring for why)."""

OWASP_MINIMUM = Argon2Parameters(time_cost=2, memory_cost=19 * 1024, parallelism=1)

TEST_PARAMETERS = Argon2Parameters(time_cost=1, memory_cost=8, parallelism=1)
"""argon2-cffi's ``profiles.CHEAPEST``: for tests only, never for real accounts."""


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    needs_rehash: bool
    """The password was right but hashed with other parameters: store ``hash(password)``."""


def credential_commitment(phc: str) -> str:
    """SHA-256 (hex) of a PHC string: what the audit chain records instead of the hash."""
    return hashlib.sha256(phc.encode("ascii")).hexdigest()


class Passwords:
    """Hash and verify staff passwords with one set of parameters."""

    def __init__(self, parameters: Argon2Parameters = PARAMETERS) -> None:
        self.parameters = parameters
        self._hasher = parameters.hasher()

    @cached_property
    def _dummy(self) -> str:
        return self._hasher.hash("no account has this password: dummy for equal timing")

    def hash(self, password: str) -> str:
        """The PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) to store."""
        return self._hasher.hash(password)

    def verify(self, phc: str | None, password: str) -> Verification:
        """Check ``password`` against ``phc``; ``None`` (no such user) spends the same time.

        A stored hash that is malformed counts as a wrong password (the services log it).
        """
        if phc is None:
            self._check(self._dummy, password)
            return Verification(ok=False, needs_rehash=False)
        if not self._check(phc, password):
            return Verification(ok=False, needs_rehash=False)
        try:
            rehash = self._hasher.check_needs_rehash(phc)
        except (InvalidHashError, ValueError):
            rehash = True
        return Verification(ok=True, needs_rehash=rehash)

    def _check(self, phc: str, password: str) -> bool:
        try:
            return self._hasher.verify(phc, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
