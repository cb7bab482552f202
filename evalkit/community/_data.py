"""Getting the tables this package needs out of a Place or a mapping of tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["get_tables", "in_scope_mask", "deprivation_band", "DEPRIVATION_BANDS"]

#: Deprivation quintile labels from IMD deciles (1 = most deprived).
DEPRIVATION_BANDS: tuple[str, ...] = (
    "1-2 (most deprived)", "3-4", "5-6", "7-8", "9-10 (least deprived)")


def get_tables(data: Any, needed: tuple[str, ...],
               optional: tuple[str, ...] = ()) -> tuple[dict[str, pd.DataFrame],
                                                        dict[str, str], Any]:
    """Tables, organisation -> partner mapping and settings from ``data``.

    ``data`` is a :class:`~evalkit.place.Place` or a mapping of table name to
    DataFrame (``organisations`` optional; ``organisation_partner`` may be a
    ready mapping).
    """
    from ..place import Place

    if isinstance(data, Place):
        tables = {k: v for k, v in data.tables.items()}
        mapping = data.organisation_partner()
        settings = data.settings
    elif isinstance(data, Mapping):
        tables = {k: v for k, v in data.items() if isinstance(v, pd.DataFrame)}
        settings = None
        mapping = {}
        given = data.get("organisation_partner")
        orgs = tables.get("organisations")
        if orgs is not None:
            if not {"organisation", "partner"} <= set(orgs.columns):
                raise InputError("organisations: needs columns 'organisation' and 'partner'.")
            mapping.update(dict(zip(orgs["organisation"].astype(str),
                                    orgs["partner"].astype(str))))
        if given is not None:
            mapping.update({str(k): str(v) for k, v in dict(given).items()})
    else:
        raise InputError(f"data: expected a Place (evalkit.load_place) or a dict of tables, "
                         f"got {type(data).__name__}.")
    missing = [t for t in needed if tables.get(t) is None]
    if missing:
        raise InputError(f"data: the {' and '.join(missing)} table(s) are needed here but "
                         f"missing. Add them to place.yml under 'data:' (templates in "
                         "data/templates/).")
    out = {t: tables[t] for t in needed}
    for t in optional:
        if tables.get(t) is not None:
            out[t] = tables[t]
    return out, mapping, settings


def in_scope_mask(people: pd.DataFrame) -> np.ndarray:
    """True for people in scope (``in_scope`` empty or missing counts as yes)."""
    if "in_scope" not in people.columns:
        return np.ones(len(people), dtype=bool)
    s = people["in_scope"]
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        txt = s.astype("string").str.strip().str.lower()
        return ~txt.isin(["false", "no", "0", "n", "f"]).fillna(False).to_numpy(dtype=bool)
    return s.astype("boolean").fillna(True).to_numpy(dtype=bool)


def deprivation_band(decile: pd.Series) -> pd.Series:
    """IMD decile -> quintile band label (``unknown`` when missing).

    Examples
    --------
    >>> deprivation_band(pd.Series([1, 2, 10, None])).tolist()
    ['1-2 (most deprived)', '1-2 (most deprived)', '9-10 (least deprived)', 'unknown']
    """
    d = pd.to_numeric(decile, errors="coerce")
    q = np.floor((d - 1) / 2)
    lab = np.array(DEPRIVATION_BANDS, dtype=object)
    out = np.full(len(d), "unknown", dtype=object)
    ok = q.notna().to_numpy() & (q >= 0).to_numpy() & (q <= 4).to_numpy()
    out[ok] = lab[q.to_numpy()[ok].astype(int)]
    return pd.Series(out, index=decile.index, name="deprivation")
