"""Credential fingerprints: the material, the keys, and the per-user key file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tokenrack.core.credential import (
    KEY_FILE,
    PUBLIC,
    credential_material,
    fleet_fingerprint,
    process_fingerprint,
    scrypt_fingerprint,
    user_fingerprint,
)
from tokenrack.secret.value import Secret


def test_material_is_every_secret_by_name_and_public_without_one() -> None:
    one = credential_material({"client_secret": Secret("s"), "private_key": Secret("k")})
    assert one == credential_material({"private_key": Secret("k"), "client_secret": Secret("s")})
    # Length-prefixed: moving bytes between a name and its value changes the material.
    assert credential_material({"ab": Secret("c")}) != credential_material({"a": Secret("bc")})
    assert credential_material({}) == PUBLIC
    assert credential_material({"client_secret": Secret("public")}) != PUBLIC


def test_fingerprints_are_keyed_and_never_a_plain_hash() -> None:
    material = credential_material({"client_secret": Secret("pw1234")})
    plain = hashlib.sha256(b"pw1234").hexdigest()
    made = [
        fleet_fingerprint(Secret("a" * 32))(material, "ctx"),
        fleet_fingerprint(Secret("b" * 32))(material, "ctx"),
        process_fingerprint()(material, "ctx"),
        scrypt_fingerprint()(material, "ctx"),
        scrypt_fingerprint()(material, "another client"),
    ]
    assert len(set(made)) == len(made)
    assert all(len(f) == 32 and f not in plain for f in made)
    # scrypt: once per process per credential, and the same answer every time.
    assert scrypt_fingerprint()(material, "ctx") == made[3]


def test_the_per_user_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    material = credential_material({"client_secret": Secret("s")})
    first = user_fingerprint(str(directory))(material, "ctx")
    key = directory / KEY_FILE
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert user_fingerprint(str(directory))(material, "ctx") == first  # another process, too
    assert [p.name for p in directory.iterdir()] == [KEY_FILE]  # no temporary file left


def test_a_planted_key_link_is_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    chosen = tmp_path / "chosen"
    chosen.write_bytes(b"k" * 32)
    os.symlink(chosen, directory / KEY_FILE)
    material = credential_material({"client_secret": Secret("s")})
    # Refused: the per-process key is used instead, never the planted one.
    assert user_fingerprint(str(directory))(material, "ctx") == process_fingerprint()(
        material, "ctx"
    )
