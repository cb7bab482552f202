"""Disclosure-control policy: which numbers may be published, and how.

A :class:`DisclosurePolicy` holds every rule a place publishes under. It is
immutable, validated when built, and describes itself (with its sources) for a
report's methods page via :meth:`DisclosurePolicy.describe`.

Defaults and their sources
--------------------------
* **Small counts (default, NHS England / NHS Digital HES convention).** Counts
  of 1 to 7 are replaced by ``*``; every other count is rounded to the nearest
  5; totals are computed from unrounded figures and then rounded. Means,
  medians and other simple statistics over 1 to 7 people are not shown.
  Source: NHS Digital, *Disclosure control methodology for Hospital Episode
  Statistics (HES) and Emergency Care Data Set (ECDS)* (September 2018), also
  adopted for SRHAD (2020) and by OpenSAFELY's output-checking guidance.
* **ONS "10-5" rule.** Counts below 10 suppressed, others rounded to the
  nearest 5. Source: ONS, *Comparison of post-tabular statistical disclosure
  control methods* (methodology working paper), which names rounding plus
  threshold "the 10-5 rule".
* **Secondary suppression.** A suppressed cell must not be recoverable by
  subtraction from published totals: GSS/ONS disclosure-control guidance for
  tables from administrative sources, and Hundepool et al., *Statistical
  Disclosure Control* (Wiley, 2012), ch. 4 ("protection levels", "attacker
  problem").
* **Dominance ((n, k) rule) for money totals.** A magnitude cell is sensitive
  when its ``n`` largest contributors make up more than ``k`` of it
  (Hundepool et al. 2012, sect. 4.2; US FCSM Statistical Policy Working
  Paper 22). Parameters are a local choice in every guide; evalkit flags a
  total when one person supplies more than 80% of it or two people more than
  90%.

Examples
--------
>>> p = DisclosurePolicy.nhs()
>>> p.threshold, p.rounding, p.symbol
(8, 5, '*')
>>> [p.publish_count(v) for v in (0, 3, 8, 12, 13)]
[0, '*', 10, 10, 15]
>>> DisclosurePolicy.ons().publish_count(9)
'*'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ..errors import ConfigError, InputError

__all__ = [
    "DisclosurePolicy",
    "SOURCES",
    "round_to_base",
    "PRESETS",
]

#: Published sources for every default, keyed by rule. Shown in the methods page.
SOURCES: dict[str, str] = {
    "nhs": (
        "NHS Digital (2018). Disclosure control methodology for Hospital Episode "
        "Statistics (HES) and Emergency Care Data Set (ECDS). https://digital.nhs.uk/"
        "data-and-information/data-tools-and-services/data-services/"
        "hospital-episode-statistics/change-to-disclosure-control-methodology-for-hes-"
        "and-ecds-from-september-2018 (counts of 1-7 shown as '*', other counts rounded "
        "to the nearest 5, totals rounded after summing unrounded figures; means and "
        "medians of 1-7 values not shown)."
    ),
    "ons": (
        "Office for National Statistics. Comparison of post-tabular statistical "
        "disclosure control methods (methodology working paper): 'the 10-5 rule' "
        "suppresses counts below ten and rounds other counts to the nearest five."
    ),
    "secondary": (
        "Government Statistical Service / ONS. Disclosure control guidance for tables "
        "produced from administrative sources (secondary suppression so that suppressed "
        "cells cannot be derived by differencing); Hundepool A. et al. (2012) "
        "Statistical Disclosure Control, Wiley, ch. 4 (cell suppression, protection "
        "levels, the attacker problem); Fischetti M. & Salazar-Gonzalez J.J. (1999) "
        "Models and algorithms for optimizing cell suppression in tabular data with "
        "linear constraints, JASA 95:916-928."
    ),
    "dominance": (
        "Hundepool A. et al. (2012) Statistical Disclosure Control, Wiley, sect. 4.2 "
        "(the (n, k) dominance rule for magnitude tables); Federal Committee on "
        "Statistical Methodology (2005) Statistical Policy Working Paper 22, Report on "
        "Statistical Disclosure Limitation Methodology."
    ),
    "pseudonymisation": (
        "Information Commissioner's Office (2025). Anonymisation and pseudonymisation "
        "guidance (pseudonymised data is still personal data; keep the additional "
        "information - the key - separate); ENISA (2019) Pseudonymisation techniques "
        "and best practices, sect. 3.3 (keyed hashing, HMAC)."
    ),
}

ZeroHandling = Literal["show", "suppress"]
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def round_to_base(value: float, base: int) -> int:
    """Round ``value`` to the nearest multiple of ``base`` (halves go up).

    Parameters
    ----------
    value : float
        A non-negative count.
    base : int
        The rounding base; 1 means plain rounding to a whole number.

    Examples
    --------
    >>> [round_to_base(v, 5) for v in (8, 12, 12.5, 13, 10)]
    [10, 10, 15, 15, 10]
    """
    if base <= 1:
        return int(math.floor(value + 0.5))
    return int(base * math.floor(value / base + 0.5))


@dataclass(frozen=True)
class DisclosurePolicy:
    """The disclosure-control rules a place publishes under.

    Build one with :meth:`nhs` (the default), :meth:`ons`, :meth:`custom` or
    :meth:`from_settings`, never by editing a policy in place (it is frozen).

    Parameters
    ----------
    name : str
        ``"nhs"``, ``"ons"`` or ``"custom"``; shown in the methods page.
    threshold : int
        Counts from 1 to ``threshold - 1`` are suppressed (primary suppression),
        and derived figures (percentages, rates, means, medians, money totals)
        computed from fewer than ``threshold`` people are suppressed too.
        Default 8 (NHS England HES: 1-7 suppressed).
    rounding : int
        Published counts are rounded to the nearest multiple of this (5 by
        default, as in HES and the ONS 10-5 rule). 1 means no rounding.
    zeros : {"show", "suppress"}
        ``"show"`` (default): a true zero is published as 0 (it is outside
        HES's 1-7 band). ``"suppress"``: zeros are treated as small counts,
        for tables where "nobody" is itself disclosive.
    symbol : str
        What a suppressed cell shows (``"*"`` as in HES).
    dominance : tuple of (n, k) pairs
        A money total is suppressed when its ``n`` largest per-person
        contributions exceed fraction ``k`` of it, for any listed pair.
        Default ``((1, 0.8), (2, 0.9))``.
    secondary : bool
        Run secondary suppression on tables with totals (default ``True``).
        Switching it off is refused unless ``rounding`` > 1, and is recorded.
    count_protection : int or None
        Width the attacker's feasible interval for each primary-suppressed
        count must reach (see :mod:`evalkit.disclosure.suppression`). Default
        ``threshold - 1``: after secondary suppression an intruder who knows
        every published figure exactly cannot narrow a suppressed count more
        than the symbol alone does.
    money_protection : float
        Same for money cells, as a fraction of the cell's value (default 0.25).
    """

    name: str = "nhs"
    threshold: int = 8
    rounding: int = 5
    zeros: ZeroHandling = "show"
    symbol: str = "*"
    dominance: tuple[tuple[int, float], ...] = ((1, 0.8), (2, 0.9))
    secondary: bool = True
    count_protection: int | None = None
    money_protection: float = 0.25
    sources: tuple[str, ...] = field(default=("nhs", "secondary", "dominance"), compare=False)

    # ------------------------------------------------------------ building
    def __post_init__(self) -> None:
        def bad(arg: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(
                f"disclosure.{arg}: got {value!r}; expected {expected}."
            )

        if not isinstance(self.threshold, int) or isinstance(self.threshold, bool) \
                or self.threshold < 1:
            raise bad("threshold", self.threshold, "a whole number of at least 1 "
                      "(counts from 1 to threshold-1 are suppressed)")
        if not isinstance(self.rounding, int) or isinstance(self.rounding, bool) \
                or self.rounding < 1:
            raise bad("rounding", self.rounding, "a whole number of at least 1 "
                      "(1 = no rounding, 5 = nearest 5)")
        if self.zeros not in ("show", "suppress"):
            raise bad("zeros", self.zeros, "'show' or 'suppress'")
        if not isinstance(self.symbol, str) or not self.symbol.strip() \
                or any(ch.isdigit() for ch in self.symbol):
            raise bad("symbol", self.symbol, "a non-empty text symbol without digits, "
                      "such as '*' or '[c]'")
        if round_to_base(self.threshold, self.rounding) < self.threshold:
            ok = sorted({t for t in range(max(1, self.threshold - self.rounding),
                                          self.threshold + self.rounding + 1)
                         if round_to_base(t, self.rounding) >= t})
            raise ConfigError(
                f"disclosure: threshold {self.threshold} with rounding to the nearest "
                f"{self.rounding} would publish a count of {self.threshold} as "
                f"{round_to_base(self.threshold, self.rounding)}, below the threshold. "
                f"Choose a threshold such as {', '.join(map(str, ok[:4]))}, or rounding: 1."
            )
        dom = tuple(tuple(pair) for pair in self.dominance)
        for pair in dom:
            if len(pair) != 2:
                raise bad("dominance", self.dominance, "a list of [n, k] pairs such as "
                          "[[1, 0.8], [2, 0.9]]")
            n, k = pair
            if not isinstance(n, int) or n < 1 or not (0 < float(k) <= 1):
                raise bad("dominance", pair, "n a whole number >= 1 and k a fraction in (0, 1]")
        object.__setattr__(self, "dominance", tuple((int(n), float(k)) for n, k in dom))
        if not self.secondary and self.rounding <= 1:
            raise ConfigError(
                "disclosure.secondary: switching off secondary suppression without "
                "rounding would let suppressed counts be recovered from totals by "
                "subtraction. Keep secondary: true, or round counts (rounding: 5)."
            )
        if self.count_protection is None:
            object.__setattr__(self, "count_protection", max(1, self.threshold - 1))
        elif not isinstance(self.count_protection, int) or self.count_protection < 1:
            raise bad("count_protection", self.count_protection, "a whole number >= 1")
        if not (0 < float(self.money_protection) <= 1):
            raise bad("money_protection", self.money_protection, "a fraction in (0, 1]")

    @classmethod
    def nhs(cls, **overrides: Any) -> DisclosurePolicy:
        """NHS England (HES) convention: suppress 1-7, round others to nearest 5.

        Source: NHS Digital (2018), *Disclosure control methodology for HES and
        ECDS* (see :data:`SOURCES` ``["nhs"]``).
        """
        return cls(**{"name": "nhs", "threshold": 8, "rounding": 5,
                      "sources": ("nhs", "secondary", "dominance"), **overrides})

    @classmethod
    def ons(cls, **overrides: Any) -> DisclosurePolicy:
        """ONS "10-5" rule: suppress counts under 10, round others to nearest 5.

        Source: ONS, *Comparison of post-tabular statistical disclosure control
        methods* (see :data:`SOURCES` ``["ons"]``).
        """
        return cls(**{"name": "ons", "threshold": 10, "rounding": 5,
                      "sources": ("ons", "secondary", "dominance"), **overrides})

    @classmethod
    def custom(cls, threshold: int, rounding: int = 5, **overrides: Any) -> DisclosurePolicy:
        """A local threshold (and rounding base); every other rule as the default."""
        return cls(**{"name": "custom", "threshold": threshold, "rounding": rounding,
                      "sources": ("secondary", "dominance"), **overrides})

    @classmethod
    def from_settings(cls, settings: Any = None, *,
                      allow_disabled: bool = False) -> DisclosurePolicy:
        """Build a policy from ``place.settings.disclosure``.

        Accepts ``None`` (the default NHS policy), a :class:`DisclosurePolicy`,
        a preset name (``"nhs"``, ``"ons"``), a mapping, or a pydantic model
        (only the fields the user set are read, so evalkit's defaults apply to
        the rest).

        Recognised keys: ``rule`` (``nhs``/``ons``/``custom``; ``nhs_hes`` and
        ``ons_10_5`` are accepted too), ``threshold``, ``rounding``, ``zeros``,
        ``symbol``, ``dominance`` (list of ``[n, k]``) or ``dominance_n`` and
        ``dominance_k``, ``secondary``, ``count_protection``,
        ``money_protection``. ``enabled``, ``allowed_postcodes`` and
        ``allowed_dates`` belong to the leak scan and are ignored here;
        ``enabled: false`` is refused because disclosure control of published
        tables cannot be switched off place-wide (opt out table by table with
        ``protect(..., opt_out="reason")``). The leak scan passes
        ``allow_disabled=True``: it checks a build whatever the setting says.

        Examples
        --------
        >>> DisclosurePolicy.from_settings({"rule": "ons"}).threshold
        10
        >>> DisclosurePolicy.from_settings({"rule": "custom", "threshold": 5}).threshold
        5
        """
        if settings is None:
            return cls.nhs()
        if isinstance(settings, DisclosurePolicy):
            return settings
        if isinstance(settings, str):
            return cls.from_settings({"rule": settings}, allow_disabled=allow_disabled)
        if hasattr(settings, "model_dump"):
            data = dict(settings.model_dump(exclude_unset=True))
        elif isinstance(settings, Mapping):
            data = dict(settings)
        elif hasattr(settings, "__dict__"):
            data = {k: v for k, v in vars(settings).items() if not k.startswith("_")}
        else:
            raise ConfigError(f"disclosure settings: expected a mapping, got {settings!r}.")
        data = {k: v for k, v in data.items() if v is not None}
        for scan_key in ("allowed_postcodes", "allowed_dates"):
            data.pop(scan_key, None)
        if data.pop("enabled", True) is False and not allow_disabled:
            raise ConfigError(
                "disclosure.enabled: false is not allowed: every published table goes "
                "through disclosure control. To publish one table without it, call "
                "protect(..., opt_out='the reason') so the exception is visible."
            )
        rule = str(data.pop("rule", "nhs")).lower()
        aliases = {"nhs": "nhs", "nhs_hes": "nhs", "hes": "nhs", "ons": "ons",
                   "ons_10_5": "ons", "10-5": "ons", "custom": "custom"}
        if rule not in aliases:
            raise ConfigError(f"disclosure.rule: got {rule!r}; expected one of "
                              "'nhs' (suppress 1-7, round to 5), 'ons' (10-5 rule), 'custom'.")
        rule = aliases[rule]
        if "dominance_n" in data or "dominance_k" in data:
            if "dominance" in data:
                raise ConfigError("disclosure: give either 'dominance' (a list of [n, k]) "
                                  "or 'dominance_n'/'dominance_k', not both.")
            data["dominance"] = ((int(data.pop("dominance_n", 1)),
                                  float(data.pop("dominance_k", 0.8))),)
        known = {"threshold", "rounding", "zeros", "symbol", "dominance", "secondary",
                 "count_protection", "money_protection"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"disclosure: unknown key(s) {unknown}; known keys are "
                              f"rule, {', '.join(sorted(known))}.")
        if rule == "custom":
            if "threshold" not in data:
                raise ConfigError("disclosure.rule 'custom' needs a threshold "
                                  "(counts from 1 to threshold-1 are suppressed).")
            return cls.custom(**data)
        for key in ("threshold", "rounding"):
            preset = {"nhs": cls.nhs(), "ons": cls.ons()}[rule]
            if key in data and data[key] != getattr(preset, key):
                raise ConfigError(
                    f"disclosure.{key}: rule '{rule}' fixes {key} at "
                    f"{getattr(preset, key)}; use rule: custom to set your own."
                )
        return cls.nhs(**data) if rule == "nhs" else cls.ons(**data)

    def with_(self, **changes: Any) -> DisclosurePolicy:
        """A copy with some rules changed (the policy itself is immutable)."""
        return replace(self, **changes)

    # ------------------------------------------------------------ applying
    def is_small(self, count: float) -> bool:
        """Whether a count must be suppressed (primary suppression).

        >>> p = DisclosurePolicy.nhs()
        >>> [p.is_small(v) for v in (0, 1, 7, 8)]
        [False, True, True, False]
        """
        if count != count:  # NaN: nothing to suppress
            return False
        if count == 0:
            return self.zeros == "suppress"
        return 0 < abs(count) < self.threshold

    def too_few(self, n_people: float) -> bool:
        """Whether a figure derived from ``n_people`` people must be suppressed.

        Applies to percentages, rates, means, medians and money totals (HES:
        "where the number of values used is between 1 and 7 inclusive, no
        calculation is made and '*' is displayed").

        >>> DisclosurePolicy.nhs().too_few(3), DisclosurePolicy.nhs().too_few(8)
        (True, False)
        """
        if n_people != n_people:
            return False
        return 0 < n_people < self.threshold

    def round_count(self, count: float) -> int:
        """Round a publishable count to the policy's base."""
        return round_to_base(count, self.rounding)

    def publish_count(self, count: float) -> int | str:
        """The text or number to publish for one count on its own.

        This applies primary suppression and rounding only; a count inside a
        table with totals must go through :func:`~evalkit.disclosure.protect_table`
        so that secondary suppression is applied too.
        """
        if count != count:
            return ""
        if self.is_small(count):
            return self.symbol
        return self.round_count(count)

    def dominated(self, total: float, largest: float, second: float = 0.0) -> bool:
        """Whether a money total fails the (n, k) dominance rule.

        Contributions are taken in absolute value. Only n = 1 and n = 2 can
        be checked from the two largest contributions; larger ``n`` need the
        full list (see :func:`dominance_from_contributions`).

        >>> p = DisclosurePolicy.nhs()
        >>> p.dominated(1000, 850), p.dominated(1000, 500, 300), p.dominated(1000, 500, 450)
        (True, False, True)
        """
        total = abs(float(total))
        if total == 0 or total != total:
            return False
        tops = [abs(float(largest)), abs(float(second or 0.0))]
        for n, k in self.dominance:
            if n > 2:
                raise InputError(
                    f"dominance rule n={n} needs every contribution; use "
                    "dominance_from_contributions() or summarise_money()."
                )
            if sum(tops[:n]) > k * total:
                return True
        return False

    def dominance_from_contributions(self, contributions: Any) -> bool:
        """Apply the dominance rule to a full list of per-person contributions.

        >>> DisclosurePolicy.nhs().dominance_from_contributions([900, 50, 50])
        True
        """
        import numpy as np

        values = np.sort(np.abs(np.asarray(contributions, dtype=float)))[::-1]
        values = values[~np.isnan(values)]
        total = values.sum()
        if total == 0:
            return False
        return any(values[:n].sum() > k * total for n, k in self.dominance)

    # ------------------------------------------------------------ describing
    def footnote(self) -> str:
        """One line for under a published table.

        >>> print(DisclosurePolicy.nhs().footnote()[:60])
        * = fewer than 8 people (suppressed to protect confidentiali
        """
        text = (f"{self.symbol} = fewer than {self.threshold} people (suppressed to protect "
                "confidentiality), or hidden so that such a figure cannot be worked out "
                "from totals.")
        if self.zeros == "suppress":
            text = text.replace(f"fewer than {self.threshold} people",
                                f"from 0 to {self.threshold - 1} people")
        if self.rounding > 1:
            text += (f" Counts are rounded to the nearest {self.rounding}; totals are "
                     "rounded independently, so they may not equal the sum of the "
                     "rounded figures.")
        return text

    def describe(self) -> str:
        """A paragraph for the report's methods page, citing every source.

        >>> "Hospital Episode Statistics" in DisclosurePolicy.nhs().describe()
        True
        """
        label = {"nhs": "the NHS England (Hospital Episode Statistics) convention",
                 "ons": "the ONS 10-5 rule", "custom": "a local rule"}[self.name]
        lines = [
            f"Published figures follow {label}: counts from 1 to {self.threshold - 1} are "
            f"replaced by '{self.symbol}'"
            + (f" and all other counts are rounded to the nearest {self.rounding}"
               if self.rounding > 1 else "")
            + ("; true zeros are shown." if self.zeros == "show"
               else "; zeros are suppressed too."),
            f"Percentages, rates, means, medians and money figures based on fewer than "
            f"{self.threshold} people are suppressed; percentages are calculated from the "
            "published (rounded) counts so that they reveal nothing the counts do not.",
            "In tables with totals, further cells are suppressed (secondary suppression, "
            "chosen by a small integer programme to hide as little as possible) so that no "
            "suppressed figure can be worked out by subtraction; each pattern is checked by "
            "solving the intruder's linear programme for every suppressed cell.",
            "A money total is suppressed when "
            + " or ".join(
                ("one person contributes" if n == 1 else
                 f"{_NUMBER_WORDS.get(n, str(n))} people contribute")
                + f" more than {k:.0%} of it" for n, k in self.dominance)
            + " (the (n, k) dominance rule).",
            "Person identifiers, dates of birth, postcodes and free text are never "
            "published; every built file is scanned for them before release.",
            "Sources: " + " ".join(SOURCES[s] for s in self.sources),
        ]
        return "\n\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data (for sidecar metadata and the methods page)."""
        d = asdict(self)
        d["dominance"] = [list(p) for p in self.dominance]
        d["sources"] = list(self.sources)
        return d


#: Named presets.
PRESETS: dict[str, DisclosurePolicy] = {
    "nhs": DisclosurePolicy.nhs(),
    "ons": DisclosurePolicy.ons(),
}
