"""argon2id hashing: parameters, rehash on sign-in, dummy verification, commitments."""

from __future__ import annotations

import hashlib

import pytest

from kiosk.auth.passwords import (
    OWASP_MINIMUM,
    PARAMETERS,
    TEST_PARAMETERS,
    Argon2Parameters,
    Passwords,
    credential_commitment,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cheap() -> Passwords:
    return Passwords(TEST_PARAMETERS)


def test_chosen_parameters_are_at_least_owasps_minimum() -> None:
    # argon2id's cost to an attacker grows with memory x passes; neither may go below.
    assert PARAMETERS.memory_cost >= OWASP_MINIMUM.memory_cost
    assert PARAMETERS.time_cost >= OWASP_MINIMUM.time_cost
    assert PARAMETERS.memory_cost * PARAMETERS.time_cost >= (
        4 * OWASP_MINIMUM.memory_cost * OWASP_MINIMUM.time_cost
    )
    assert PARAMETERS.salt_len >= 16


def test_real_parameters_produce_an_argon2id_phc_string() -> None:
    phc = Passwords(PARAMETERS).hash(PASSWORD)
    assert phc.startswith("$argon2id$v=19$m=65536,t=3,p=1$")


def test_hash_and_verify(cheap: Passwords) -> None:
    phc = cheap.hash(PASSWORD)
    assert PASSWORD not in phc
    assert cheap.hash(PASSWORD) != phc  # a fresh salt every time
    assert cheap.verify(phc, PASSWORD).ok
    assert not cheap.verify(phc, PASSWORD + " ").ok
    assert not cheap.verify(phc, "Correct horse battery staple").ok


def test_unknown_user_and_malformed_hash_are_wrong_passwords(cheap: Passwords) -> None:
    assert not cheap.verify(None, PASSWORD).ok
    assert not cheap.verify("not a hash", PASSWORD).ok
    assert not cheap.verify("$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB", PASSWORD).ok


def test_dummy_verification_uses_the_same_parameters(cheap: Passwords) -> None:
    real = Passwords(PARAMETERS)
    assert real._dummy.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    assert cheap._dummy.startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_a_hash_with_old_parameters_asks_for_a_rehash(cheap: Passwords) -> None:
    old = cheap.hash(PASSWORD)
    stronger = Passwords(Argon2Parameters(time_cost=2, memory_cost=16, parallelism=1))
    result = stronger.verify(old, PASSWORD)
    assert result.ok and result.needs_rehash
    assert not stronger.verify(old, "wrong password entirely").needs_rehash
    fresh = stronger.hash(PASSWORD)
    assert stronger.verify(fresh, PASSWORD) == stronger.verify(fresh, PASSWORD)
    assert not stronger.verify(fresh, PASSWORD).needs_rehash


def test_commitment_is_a_sha256_of_the_phc_string(cheap: Passwords) -> None:
    phc = cheap.hash(PASSWORD)
    assert credential_commitment(phc) == hashlib.sha256(phc.encode()).hexdigest()
    assert credential_commitment(phc) != credential_commitment(cheap.hash(PASSWORD))
