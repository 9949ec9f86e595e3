"""Staff password rules (NIST SP 800-63B rev. 4) and the shipped blocklist."""

from __future__ import annotations

import gzip
import hashlib
import unicodedata
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.auth.policy import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordRejected,
    blocklist,
    check_password,
    normalise_password,
)

CONTEXT = ["jlee", "Jordan Lee", "Riverbend Physiotherapy"]
BLOCKLIST_SHA256 = "1d8dad27b3e4f89336b20252d2d3f6ca0ecc78932892573a89c2554910f1e4d2"


def refused(password: str) -> str:
    with pytest.raises(PasswordRejected) as info:
        check_password(password, context=CONTEXT)
    return str(info.value)


def test_the_shipped_blocklist_is_the_recorded_build() -> None:
    blob = resources.files("kiosk.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == BLOCKLIST_SHA256
    entries = gzip.decompress(blob).decode("utf-8").splitlines()
    assert len(entries) == len(blocklist()) == 19640
    assert entries == sorted(set(entries))
    assert all(e == unicodedata.normalize("NFKC", e).casefold() and e for e in entries)
    assert {"password", "qwerty", "1q2w3e4r5t6y7u8i9o0p"} <= blocklist()


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Björn's blue bicycle",
        "839201746628391",  # digits only: no composition rule applies
        "ALL CAPITALS NO DIGITS AT ALL",
        "всё хорошо, спасибо",
        "雨の日は家で本を読むのが好きです",
        "a" * 7 + " zebra stripes!",
    ],
)
def test_long_uncommon_passwords_pass_whatever_they_are_made_of(password: str) -> None:
    assert check_password(password, context=CONTEXT) == normalise_password(password)


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    assert "at least 15 characters (this one has 14)" in refused("zebra stripes!")
    assert check_password("é" * 3 + " zebra stripes!") == "é" * 3 + " zebra stripes!"
    # Fullwidth letters normalise to ASCII: the same password whatever the keyboard.
    assert check_password("ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ") == "correct horse battery"
    decomposed = "Bjo\u0308rn's blue bicycle"
    assert check_password(decomposed) == "Björn's blue bicycle"
    assert len(check_password("zebra " * 42 + "end!")) == MAX_LENGTH
    assert f"at most {MAX_LENGTH}" in refused("zebra stripes " * 20)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("1q2w3e4r5t6y7u8i9o0p", "list of common or leaked"),
        ("Password!!2024!!!", "list of common or leaked"),
        ("qwertyuiop123456", "list of common or leaked"),
        ("  password 12345678  ", "list of common or leaked"),
        ("dragondragondragon", "repeats a short pattern"),
        ("abcabcabcabcabcabc", "repeats a short pattern"),
        ("monkey monkey monkey", "repeats a short pattern"),
        ("123456789012345", "run of consecutive digits"),
        ("987654321098765", "run of consecutive digits"),
        ("jordanlee1234567", "your name"),
        ("jlee2024jlee2024", "your name"),
        ("Riverbend Physio 1", "your name"),
        ("ilovejordanlee!!", "your name"),
        ("tab\there with stuff", "control or invisible"),
        ("zero\u200bwidth space inside", "control or invisible"),
    ],
)
def test_guessable_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    assert why in refused(password)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_any_input_gets_a_sentence_or_its_normal_form(password: str) -> None:
    try:
        result = check_password(password, context=CONTEXT)
    except PasswordRejected as problem:
        assert str(problem).endswith(".")
    else:
        assert result == normalise_password(password)
        assert MIN_LENGTH <= len(result) <= MAX_LENGTH
