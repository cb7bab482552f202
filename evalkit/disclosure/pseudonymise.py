"""Keyed pseudonymisation (HMAC-SHA256) for sharing linked data between partners.

Partners who must link records about the same people without exchanging
identifiers each replace an identifier (NHS number, local client id) by
``HMAC-SHA256(key, identifier)``. The same key gives the same pseudonym in
every partner's extract, so records still link; without the key, a pseudonym
cannot be reversed or recomputed by hashing every possible NHS number (the
weakness of an unkeyed hash).

Source: ICO, *Anonymisation and pseudonymisation* guidance (2025):
pseudonymised data is still personal data, and the additional information
(here the key) must be kept separately and protected; ENISA (2019),
*Pseudonymisation techniques and best practices*, sect. 3.3 (keyed hash
functions such as HMAC are preferred to plain hashes).

The key
-------
The key is a secret shared only between the partners' analysts, supplied by
an environment variable (default ``EVALKIT_PSEUDONYM_KEY``) or a key file,
never as an argument that might be saved in a notebook. evalkit never writes
it anywhere: :class:`Pseudonymiser` shows only a fingerprint, and the leak
scan looks for the key in every built file. Make a key with
:func:`generate_key` (32 random bytes, the HMAC-SHA256 block-size guidance of
RFC 2104 is at least 32 bytes); keys under 16 bytes are refused.

Examples
--------
>>> import os
>>> os.environ["EVALKIT_PSEUDONYM_KEY"] = "0" * 64   # for the example only
>>> p = Pseudonymiser.from_env()
>>> p("943 476 5919") == p("9434765919")              # spacing does not matter
True
>>> len(p("9434765919"))
20
>>> del os.environ["EVALKIT_PSEUDONYM_KEY"]
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = [
    "KEY_ENV",
    "Pseudonymiser",
    "generate_key",
    "load_key",
    "pseudonymise",
    "pseudonymise_frame",
]

#: Environment variable read for the key by default.
KEY_ENV = "EVALKIT_PSEUDONYM_KEY"
_MIN_KEY_BYTES = 16


def generate_key() -> str:
    """A new random key: 64 hexadecimal characters (32 bytes).

    Store it in a file readable only by the analysts who need it (or a secrets
    manager) and share it with partners by a secure route, never by e-mail
    alongside the data.
    """
    return secrets.token_hex(32)


def _key_bytes(text: str, source: str) -> bytes:
    text = text.strip()
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        key = bytes.fromhex(text)
    else:
        key = text.encode("utf-8")
    if len(key) < _MIN_KEY_BYTES:
        raise InputError(
            f"the pseudonymisation key from {source} is {len(key)} bytes; use at least "
            f"{_MIN_KEY_BYTES} (generate one with evalkit.disclosure.generate_key(), "
            "64 hex characters)."
        )
    return key


def load_key(env: str = KEY_ENV, key_file: str | Path | None = None) -> bytes:
    """Read the secret key from a key file (if given) or an environment variable.

    A key written as hexadecimal is decoded to bytes; anything else is used as
    UTF-8 text.

    Raises
    ------
    InputError
        When neither source holds a key, or the key is too short.
    """
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise InputError(f"pseudonymisation key file {str(path)!r} not found.")
        return _key_bytes(path.read_text(encoding="utf-8"), f"key file {path.name}")
    value = os.environ.get(env)
    if not value:
        raise InputError(
            f"no pseudonymisation key: set the environment variable {env} (or pass "
            "key_file=). Create a key once with evalkit.disclosure.generate_key() and "
            "share it only with partners' analysts."
        )
    return _key_bytes(value, f"environment variable {env}")


def _normalise(value: Any) -> str:
    s = str(value)
    return re.sub(r"\s+", "", s).upper()


class Pseudonymiser:
    """Turns identifiers into keyed pseudonyms; never reveals its key.

    Parameters
    ----------
    key : bytes
        The secret key (use :meth:`from_env` or :meth:`from_file`).
    length : int
        Hex characters kept from the 64-character digest (default 20, i.e.
        80 bits: collisions are negligible for any local population).
    prefix : str
        Put before each pseudonym (e.g. ``"X"``) so pseudonyms are visibly
        not original ids.
    normalise : bool
        Remove all whitespace and upper-case before hashing (default), so
        ``"943 476 5919"`` and ``"9434765919"`` match; partners must use the
        same setting.
    context : str
        Domain separation: a label mixed into every hash (e.g. the project
        name), so pseudonyms from one project cannot be linked to another's
        even with the same key.
    """

    def __init__(self, key: bytes, *, length: int = 20, prefix: str = "",
                 normalise: bool = True, context: str = "") -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) < _MIN_KEY_BYTES:
            raise InputError(f"Pseudonymiser: key must be at least {_MIN_KEY_BYTES} bytes.")
        if not (8 <= int(length) <= 64):
            raise InputError(f"Pseudonymiser: length must be 8 to 64 hex characters; got "
                             f"{length!r}.")
        self.__key = bytes(key)
        self.length = int(length)
        self.prefix = prefix
        self.normalise = normalise
        self.context = context

    @classmethod
    def from_env(cls, env: str = KEY_ENV, **kwargs: Any) -> Pseudonymiser:
        """Use the key in environment variable ``env``."""
        return cls(load_key(env=env), **kwargs)

    @classmethod
    def from_file(cls, key_file: str | Path, **kwargs: Any) -> Pseudonymiser:
        """Use the key in ``key_file``."""
        return cls(load_key(key_file=key_file), **kwargs)

    @property
    def fingerprint(self) -> str:
        """A short code that identifies the key without revealing it.

        Partners compare fingerprints to confirm they use the same key.
        """
        return hmac.new(self.__key, b"evalkit key fingerprint", hashlib.sha256).hexdigest()[:12]

    def __call__(self, value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
            return None
        text = _normalise(value) if self.normalise else str(value)
        if not text:
            return None
        msg = ((self.context + "\x1f" + text) if self.context else text).encode("utf-8")
        return self.prefix + hmac.new(self.__key, msg, hashlib.sha256).hexdigest()[: self.length]

    def many(self, values: Iterable[Any]) -> list[str | None]:
        """Pseudonymise each value (``None`` for missing values)."""
        return [self(v) for v in values]

    def __repr__(self) -> str:
        return (f"Pseudonymiser(fingerprint={self.fingerprint}, length={self.length}, "
                f"prefix={self.prefix!r}, normalise={self.normalise}, "
                f"context={self.context!r})")

    def __reduce__(self):  # pragma: no cover - refuse to pickle the key
        raise TypeError("a Pseudonymiser holds a secret key and cannot be pickled or saved.")


def pseudonymise(values: Iterable[Any], *, key_env: str = KEY_ENV,
                 key_file: str | Path | None = None, **kwargs: Any) -> list[str | None]:
    """Pseudonymise a list of identifiers with the key from the environment or a file.

    See :class:`Pseudonymiser` for ``length``, ``prefix``, ``normalise`` and
    ``context``.
    """
    p = Pseudonymiser(load_key(env=key_env, key_file=key_file), **kwargs)
    return p.many(values)


def pseudonymise_frame(
    df: pd.DataFrame,
    columns: Sequence[str] = ("person_id",),
    *,
    key_env: str = KEY_ENV,
    key_file: str | Path | None = None,
    drop: Sequence[str] = ("date_of_birth", "postcode"),
    **kwargs: Any,
) -> pd.DataFrame:
    """A copy of ``df`` with identifier columns pseudonymised and direct identifiers dropped.

    Parameters
    ----------
    df : DataFrame
    columns : list of str
        Identifier columns to replace by pseudonyms (same column names).
    drop : list of str
        Columns removed outright if present (dates of birth and postcodes are
        identifying even when the id is pseudonymised; derive age bands or
        areas before calling this).
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"pseudonymise_frame: column(s) {missing} not found; the table has "
                         f"{list(df.columns)}.")
    p = Pseudonymiser(load_key(env=key_env, key_file=key_file), **kwargs)
    out = df.drop(columns=[c for c in drop if c in df.columns])
    for c in columns:
        out[c] = pd.Series(p.many(out[c].tolist()), index=out.index, dtype=object)
    return out
