"""Reading the small CSV/XLSX tables the split module takes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError

__all__ = ["read_any"]


def read_any(path: str | Path, *, sheet: str | int = 0, table: str = "table") -> pd.DataFrame:
    """Read a CSV or Excel file into a DataFrame with clear errors.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (comma separated, UTF-8, an Excel byte-order mark is fine),
        ``.xlsx``/``.xlsm``/``.xls``.
    sheet : str or int
        Sheet to read from a workbook (default the first).
    table : str
        Name used in error messages.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{table}: file not found: {p}.")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            df = pd.read_csv(p, encoding="utf-8-sig", skipinitialspace=True)
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(p, sheet_name=sheet)
        else:
            raise InputError(f"{table}: {p.name} is not a CSV or Excel file "
                             "(expected .csv or .xlsx).")
    except InputError:
        raise
    except Exception as err:  # pandas/openpyxl parse failures
        raise InputError(f"{table}: could not read {p}: {err}") from err
    df.columns = [str(c).strip() for c in df.columns]
    df = df.dropna(how="all")
    return df
