"""The one door out: every table and number a report publishes passes through here.

:class:`Publisher` applies the place's disclosure policy
(:mod:`evalkit.disclosure`) to each table, writes its CSV download (with the
disclosure sidecar the leak scan reads) into the book's ``_static/downloads``,
and records it in the report context. Numbers quoted in running text go
through :meth:`Publisher.count`, :meth:`Publisher.derived` or
:meth:`Publisher.money` so that a sentence cannot leak what a table hides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..disclosure import Derived, DisclosurePolicy, Money, protect, protect_table
from ..errors import InputError
from .context import PublishedTable, ReportContext

__all__ = ["Publisher", "DOWNLOADS"]

#: Folder (relative to the book root) holding the published CSV downloads.
DOWNLOADS = Path("_static") / "downloads"


class Publisher:
    """Protects and records everything a report publishes.

    Parameters
    ----------
    ctx : ReportContext
        The context being built.
    book_dir : path
        The book folder (downloads go to ``_static/downloads`` inside it).
    settings : DisclosureSettings, mapping or None
        The place's disclosure settings (default: NHS England HES rules).
    """

    def __init__(self, ctx: ReportContext, book_dir: str | Path, settings: Any = None) -> None:
        self.ctx = ctx
        self.book_dir = Path(book_dir)
        self.policy = DisclosurePolicy.from_settings(settings)
        (self.book_dir / DOWNLOADS).mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- tables
    def table(
        self,
        name: str,
        df: pd.DataFrame,
        *,
        title: str,
        chapter: str,
        counts: Sequence[str] = (),
        derived: Mapping[str, Derived | str | tuple[str, str]] | None = None,
        money: Mapping[str, Money] | None = None,
        other: Sequence[str] = (),
        total_row: Any = None,
        sums: Mapping[str, Sequence[str]] | None = None,
        formats: Mapping[str, str] | None = None,
        notes: Sequence[str] = (),
        opt_out: str | None = None,
        drop_sensitive: bool = False,
    ) -> PublishedTable:
        """Protect ``df``, write its CSV download, and record it for the book.

        Column roles are as in :func:`evalkit.disclosure.protect`: every
        numeric column must be declared as a count of people, a derived
        figure, money about people, or ``other`` (not about people, e.g. a
        unit cost or a coefficient). Returns the :class:`PublishedTable`.
        """
        self._check_new(name)
        prot = protect(df, counts=counts, derived=derived, money=money, other=other,
                       total_row=total_row, sums=sums, policy=self.policy, name=name,
                       opt_out=opt_out, drop_sensitive=drop_sensitive)
        return self._record(name, prot, title=title, chapter=chapter, formats=formats,
                            notes=notes)

    def crosstab(self, name: str, table: pd.DataFrame | pd.Series, *, title: str,
                 chapter: str, notes: Sequence[str] = ()) -> PublishedTable:
        """Protect a one- or two-way table of counts of people, adding its totals.

        Secondary suppression makes sure no hidden cell can be recovered from
        the totals (see :func:`evalkit.disclosure.protect_table`).
        """
        self._check_new(name)
        prot = protect_table(table, margins=True, policy=self.policy, name=name)
        return self._record(name, prot, title=title, chapter=chapter, notes=notes)

    def _check_new(self, name: str) -> None:
        if name in self.ctx.tables:
            raise InputError(f"A table named {name!r} was already published.")

    def _record(self, name: str, prot: Any, *, title: str, chapter: str,
                formats: Mapping[str, str] | None = None, notes: Sequence[str] = ()
                ) -> PublishedTable:
        """Write the protected table's CSV download (with its sidecar) and record it."""
        csv_rel = (DOWNLOADS / f"{name}.csv").as_posix()
        prot.to_csv(self.book_dir / csv_rel)
        pt = PublishedTable(name=name, title=title, protected=prot, chapter=chapter,
                            formats=dict(formats or {}), notes=list(notes), csv=csv_rel)
        self.ctx.tables[name] = pt
        return pt

    # --------------------------------------------------------------- numbers
    def count(self, value: float) -> int | str:
        """A count of people for running text: suppressed or rounded by the policy."""
        out = self.policy.publish_count(float(value))
        return out if isinstance(out, str) else int(out)

    def derived(self, value: float, n_people: float) -> float | str:
        """A rate, mean, share or estimate from ``n_people`` people (suppressed if too few)."""
        if self.policy.too_few(float(n_people)):
            return self.policy.symbol
        return float(value)

    def money(self, total: float, contributions: Any = None, n_people: float | None = None
              ) -> float | str:
        """A money total about people: suppressed if too few people or one or two dominate.

        ``contributions`` are the per-person amounts behind the total (for the
        dominance rule); without them ``n_people`` must be given.
        """
        if contributions is not None:
            c = np.asarray(contributions, dtype=float)
            c = c[np.isfinite(c) & (c != 0)]
            if self.policy.too_few(len(c)) or self.policy.dominance_from_contributions(c):
                return self.policy.symbol
            return float(total)
        if n_people is None:
            raise InputError("Publisher.money needs the per-person contributions or n_people.")
        if self.policy.too_few(float(n_people)):
            return self.policy.symbol
        return float(total)
