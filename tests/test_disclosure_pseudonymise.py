"""Keyed pseudonymisation (HMAC-SHA256)."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from evalkit.disclosure import (
    KEY_ENV,
    Pseudonymiser,
    generate_key,
    load_key,
    pseudonymise,
    pseudonymise_frame,
    scan_build,
)
from evalkit.errors import InputError

KEY = "5f" * 32


def test_rfc4231_hmac_sha256_vectors():
    """RFC 4231 test cases 1, 6 and 7: evalkit's pseudonym is standard HMAC-SHA256."""
    p1 = Pseudonymiser(b"\x0b" * 20, length=64, normalise=False)
    assert p1("Hi There") == ("b0344c61d8db38535ca8afceaf0bf12b"
                              "881dc200c9833da726e9376c2e32cff7")
    p6 = Pseudonymiser(b"\xaa" * 131, length=64, normalise=False)
    assert p6("Test Using Larger Than Block-Size Key - Hash Key First") == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    assert p6("This is a test using a larger than block-size key and a larger than "
              "block-size data. The key needs to be hashed before being used by the HMAC "
              "algorithm.") == (
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    # the default keeps the first 20 hex characters
    assert Pseudonymiser(b"\x0b" * 20, normalise=False)("Hi There") == "b0344c61d8db38535ca8"


def test_env_and_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    a = pseudonymise(["943 476 5919", "9434765919", None])
    assert a[0] == a[1] and a[2] is None and len(a[0]) == 20
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    assert pseudonymise(["9434765919"], key_file=key_file) == [a[0]]
    assert load_key() == bytes.fromhex(KEY)
    other = Pseudonymiser(bytes.fromhex("6a" * 32))
    assert other("9434765919") != a[0]


def test_missing_and_short_keys(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(InputError, match=KEY_ENV):
        load_key()
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(InputError, match="at least 16"):
        load_key()
    with pytest.raises(InputError, match="not found"):
        load_key(key_file=tmp_path / "none.txt")


def test_key_never_shown_or_saved(monkeypatch):
    p = Pseudonymiser(bytes.fromhex(KEY), prefix="X")
    assert KEY not in repr(p) and "5f5f" not in repr(p)
    assert len(p.fingerprint) == 12
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(p)
    assert p("abc").startswith("X")


def test_context_separates_projects():
    k = bytes.fromhex(KEY)
    assert Pseudonymiser(k, context="pilot A")("P1") != Pseudonymiser(k, context="pilot B")("P1")


def test_generate_key():
    k = generate_key()
    assert len(k) == 64 and k != generate_key()
    int(k, 16)


def test_frame_drops_direct_identifiers(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    df = pd.DataFrame({"person_id": ["P1", "P2"], "date_of_birth": ["1990-05-17", None],
                       "postcode": ["AN1 2YT", None], "age_band": ["25-34", "35-44"]})
    out = pseudonymise_frame(df)
    assert list(out.columns) == ["person_id", "age_band"]
    assert out.person_id.tolist() == pseudonymise(["P1", "P2"])
    with pytest.raises(InputError, match="not found"):
        pseudonymise_frame(df, columns=["nhs_number"])


def test_scan_finds_pseudonymised_ids_are_not_original_ids(tmp_path, monkeypatch):
    """Publishing pseudonyms instead of ids passes the scan; the key itself does not."""
    monkeypatch.setenv(KEY_ENV, KEY)
    ids = ["P0000123", "P0000124"]
    (tmp_path / "linked.csv").write_text("pid\n" + "\n".join(pseudonymise(ids)) + "\n")
    assert scan_build(tmp_path, identifiers=ids, secrets=[KEY]).ok
    (tmp_path / "config.js").write_text(f"key='{KEY}'")
    assert [f.kind for f in scan_build(tmp_path, identifiers=ids, secrets=[KEY]).findings] == \
        ["secret"]
