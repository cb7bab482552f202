"""Exceptions raised by evalkit.

Every error a user can cause says what is wrong, where (file, row, column or
config key), and what to do about it. Library code raises these, never a bare
``ValueError`` from deep inside numpy or pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EvalkitError",
    "InputError",
    "ConfigError",
    "Problem",
    "ValidationError",
]


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class InputError(EvalkitError, ValueError):
    """A function was given an argument or a table it cannot use.

    The message names the argument (or table and column), the bad value, and
    what is expected instead.
    """


class ConfigError(EvalkitError, ValueError):
    """A ``place.yml`` (or another settings file) has a missing or bad key."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input table.

    Attributes
    ----------
    table : str
        Logical table name (``people``, ``events``...).
    file : str or None
        The file the user gave, as they gave it (``None`` for an in-memory table).
    row : int or None
        The row number **as the user sees it in a spreadsheet**: the header is
        row 1, so the first data row is row 2. ``None`` for whole-table problems.
    column : str or None
        The column, or ``None`` for problems not tied to one column.
    value : Any
        The offending value as read (``None`` when not applicable).
    message : str
        What is wrong and what is expected, in plain English.
    """

    table: str
    file: str | None
    row: int | None
    column: str | None
    value: Any
    message: str

    def __str__(self) -> str:
        where = [self.file or f"<{self.table} table>"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = ", ".join(where) + ": " + self.message
        if self.value is not None and not _is_missing(self.value):
            text += f" (found {self.value!r})"
        return text


def _is_missing(value: Any) -> bool:
    try:
        return value != value  # NaN
    except Exception:  # pragma: no cover - exotic objects
        return False


@dataclass
class ValidationError(EvalkitError):
    """One or more input tables failed validation.

    Holds **every** problem found (not just the first), so a user can fix a
    file in one pass. ``str(err)`` lists them; ``err.to_frame()`` gives a table.
    """

    problems: list[Problem] = field(default_factory=list)
    max_listed: int = 200

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found in the input data:"
        lines = [head]
        for p in self.problems[: self.max_listed]:
            lines.append(f"  - {p}")
        if n > self.max_listed:
            lines.append(
                f"  ... and {n - self.max_listed} more (use err.to_frame() to see all)."
            )
        return "\n".join(lines)

    def to_frame(self):  # -> pd.DataFrame (import kept local: errors.py is light)
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "table": p.table,
                    "file": p.file,
                    "row": p.row,
                    "column": p.column,
                    "value": p.value,
                    "message": p.message,
                }
                for p in self.problems
            ],
            columns=["table", "file", "row", "column", "value", "message"],
        )
