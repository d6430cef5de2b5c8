"""Tests of twinlab.deid.keys: where the key comes from, errors, sub-keys, no leaks."""

from __future__ import annotations

import base64
import logging
import pickle
import subprocess

import pytest

from twinlab.deid import KEY_ENV, KEY_FILE_ENV, DeidKey, DeidKeyError, load_key
from twinlab.deid.dates import DATE_SHIFT_PURPOSE
from twinlab.deid.pseudonyms import PSEUDONYM_PURPOSE

SECRET = bytes(range(100, 132))


def test_missing_key_names_both_options():
    with pytest.raises(DeidKeyError) as err:
        load_key(environ={})
    assert isinstance(err.value, ValueError)
    assert KEY_ENV in str(err.value)
    assert KEY_FILE_ENV in str(err.value)


def test_key_from_env_hex_and_base64_agree():
    by_hex = load_key(environ={KEY_ENV: SECRET.hex()})
    by_b64 = load_key(environ={KEY_ENV: base64.b64encode(SECRET).decode()})
    by_url = load_key(environ={KEY_ENV: base64.urlsafe_b64encode(SECRET).decode().rstrip("=")})
    assert by_hex == by_b64 == by_url == DeidKey(SECRET)
    assert by_hex != DeidKey(bytes(32))


@pytest.mark.parametrize("text", ["00" * 31, base64.b64encode(bytes(31)).decode(), "not a key!"])
def test_short_or_malformed_key_is_refused_without_echoing_it(text):
    with pytest.raises(DeidKeyError) as err:
        load_key(environ={KEY_ENV: text})
    assert text not in str(err.value)
    assert KEY_FILE_ENV in str(err.value)


def test_key_file_outside_repository_is_loaded(tmp_path):
    file = tmp_path / "deid.key"
    file.write_text(SECRET.hex() + "\n")
    file.chmod(0o600)
    assert load_key(environ={KEY_FILE_ENV: str(file)}) == DeidKey(SECRET)


def test_key_file_readable_by_others_is_refused(tmp_path):
    file = tmp_path / "deid.key"
    file.write_text(SECRET.hex())
    file.chmod(0o644)
    with pytest.raises(DeidKeyError, match="chmod 600"):
        load_key(environ={KEY_FILE_ENV: str(file)})


def test_key_file_inside_git_work_tree_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    done = subprocess.run(["git", "init", "-q", str(repo)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("git is not available")
    file = repo / "deid.key"
    file.write_text(SECRET.hex())
    file.chmod(0o600)
    with pytest.raises(DeidKeyError, match="git work tree") as err:
        load_key(environ={KEY_FILE_ENV: str(file)})
    assert SECRET.hex() not in str(err.value)


def test_missing_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(DeidKeyError, match="not found"):
        load_key(environ={KEY_FILE_ENV: str(tmp_path / "nope.key")})


def test_env_key_wins_over_key_file(tmp_path):
    key = load_key(environ={KEY_ENV: SECRET.hex(), KEY_FILE_ENV: str(tmp_path / "nope.key")})
    assert key == DeidKey(SECRET)


def test_secret_never_shows_in_repr_str_logs_or_pickles(caplog):
    key = DeidKey(SECRET)
    forms = {SECRET.hex(), base64.b64encode(SECRET).decode(), repr(SECRET)}
    with caplog.at_level(logging.INFO):
        logging.getLogger("twinlab.test").info("using %s / %r", key, key)
    for text in (repr(key), str(key), f"{key}", caplog.text):
        assert not any(f in text for f in forms)
        assert key.fingerprint in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_sub_keys_differ_per_purpose_and_per_key():
    key = DeidKey(SECRET)
    a, b = key.derive(PSEUDONYM_PURPOSE), key.derive(DATE_SHIFT_PURPOSE)
    assert len(a) == len(b) == 32
    assert a != b
    assert SECRET not in (a, b)
    assert key.derive(PSEUDONYM_PURPOSE) == a  # deterministic
    assert DeidKey(bytes(32)).derive(PSEUDONYM_PURPOSE) != a


def test_generated_keys_are_random_and_long_enough():
    k1, k2 = DeidKey.generate(), DeidKey.generate()
    assert k1 != k2
    assert k1.fingerprint != k2.fingerprint
