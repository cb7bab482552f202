"""Simple cost-split rules, vectorised over draws.

Every rule takes the cost to share and per-partner inputs and returns what each
partner pays. Inputs broadcast: ``cost`` of shape ``(...)`` and per-partner
arrays of shape ``(..., n)`` give payments of shape ``(..., n)``, so a Monte
Carlo module can pass 10,000 draws at once::

    pay = proportional(costs, benefit_draws)      # (10000,) and (10000, 15) -> (10000, 15)

Every rule balances the budget exactly (payments add up to the cost).

Rules
-----
equal
    ``cost / n`` each.
proportional
    In proportion to a non-negative driver (budget, caseload, population...).
beneficiary_pays
    In proportion to each partner's benefit (``proportional`` with the benefit).
fixed_shares
    Negotiated percentages (fractions summing to 1, or percentages summing to 100).
base_plus_variable
    A fixed base (pounds per partner, or a share of the cost split equally)
    plus the rest in proportion to a driver.
capped_proportional
    Proportional, but no partner pays more than its cap; the excess over a cap
    is redistributed pro rata (by the driver) among the uncapped partners,
    repeatedly, until no one is over: ``x_i = min(cap_i, lambda * d_i)``.
airport
    Littlechild & Owen (1973): partners need different levels of one shared
    service; the cost of serving a group is the cost of the highest level any
    member needs. The cost of each increment of level is split equally among
    the partners who need at least that level. This is the Shapley value of
    the airport game ``c(S) = cost * max_{i in S} level_i / max_j level_j``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "equal",
    "proportional",
    "beneficiary_pays",
    "fixed_shares",
    "base_plus_variable",
    "capped_proportional",
    "airport",
    "allocate",
    "SIMPLE_RULES",
]

#: Names accepted by :func:`allocate`.
SIMPLE_RULES = ("equal", "proportional", "beneficiary_pays", "fixed_shares",
                "base_plus_variable", "capped_proportional", "airport")


def _cost(cost: Any) -> np.ndarray:
    c = np.asarray(cost, dtype=float)
    if not np.all(np.isfinite(c)):
        raise InputError("cost: the cost to share must be a finite number of pounds.")
    if np.any(c < 0):
        raise InputError(f"cost: the cost to share must not be negative (got {c.min():,.2f}).")
    return c


def _driver(driver: Any, name: str, *, allow_all_zero: bool = False) -> np.ndarray:
    d = np.asarray(driver, dtype=float)
    if d.ndim == 0:
        raise InputError(f"{name}: expected one number per partner, got a single number.")
    if not np.all(np.isfinite(d)):
        raise InputError(f"{name}: every partner needs a number; found a blank or non-number. "
                         "Fill it in (0 if the partner has none).")
    if np.any(d < 0):
        raise InputError(f"{name}: drivers must not be negative (found {d.min():,.4g}); a "
                         "proportional split needs amounts of 0 or more.")
    if not allow_all_zero:
        zero = ~np.any(d > 0, axis=-1)
        if np.any(zero):
            where = "" if d.ndim == 1 else f" in {int(np.sum(zero))} draw(s)"
            raise InputError(f"{name}: every partner's driver is zero{where}, so there is "
                             "nothing to split in proportion to. Choose another driver or "
                             "the equal split.")
    return d


def equal(cost: Any, n: int) -> np.ndarray:
    """Everyone pays the same.

    Examples
    --------
    >>> equal(900, 3).tolist()
    [300.0, 300.0, 300.0]
    """
    if int(n) < 1:
        raise InputError("n: need at least one partner.")
    c = _cost(cost)
    return np.broadcast_to(c[..., None] / int(n), c.shape + (int(n),)).copy()


def proportional(cost: Any, driver: Any) -> np.ndarray:
    """Pay in proportion to a non-negative driver.

    Examples
    --------
    >>> proportional(1000, [1, 3, 6]).tolist()
    [100.0, 300.0, 600.0]
    """
    c = _cost(cost)
    d = _driver(driver, "driver")
    return c[..., None] * d / d.sum(axis=-1, keepdims=True)


def beneficiary_pays(cost: Any, benefit: Any) -> np.ndarray:
    """Pay in proportion to benefit ("beneficiary pays").

    Examples
    --------
    >>> beneficiary_pays(100, [0, 30, 10]).tolist()
    [0.0, 75.0, 25.0]
    """
    c = _cost(cost)
    b = _driver(benefit, "benefit")
    return c[..., None] * b / b.sum(axis=-1, keepdims=True)


def fixed_shares(cost: Any, shares: Any, *, tol: float = 1e-6) -> np.ndarray:
    """Negotiated fixed percentages.

    ``shares`` are fractions summing to 1 or percentages summing to 100.

    Examples
    --------
    >>> fixed_shares(2000, [50, 30, 20]).tolist()
    [1000.0, 600.0, 400.0]
    """
    c = _cost(cost)
    s = _driver(shares, "shares")
    total = s.sum(axis=-1)
    if np.all(np.abs(total - 100.0) <= 100 * tol):
        s = s / 100.0
    elif not np.all(np.abs(total - 1.0) <= tol):
        bad = float(np.atleast_1d(total)[0])
        raise InputError(f"shares: fixed shares must add up to 100% (or 1); they add up to "
                         f"{bad:g}. Adjust them so that the whole cost is covered.")
    return c[..., None] * s


def base_plus_variable(cost: Any, driver: Any, *, base: Any = None,
                       base_share: float | None = None) -> np.ndarray:
    """A fixed base for each partner plus the rest in proportion to a driver.

    Parameters
    ----------
    cost : float or array
        The cost to share.
    driver : array (..., n)
        Driver for the variable part.
    base : float or array (..., n), optional
        Pounds each partner pays as its base (one number = the same base for all).
    base_share : float, optional
        Alternatively, the share of the cost (0 to 1) split equally as the base.

    Examples
    --------
    >>> base_plus_variable(1000, [1, 3], base_share=0.4).tolist()
    [350.0, 650.0]
    >>> base_plus_variable(1000, [1, 3], base=100).tolist()
    [300.0, 700.0]
    """
    c = _cost(cost)
    d = _driver(driver, "driver")
    n = d.shape[-1]
    if (base is None) == (base_share is None):
        raise InputError("base_plus_variable: give exactly one of base (pounds per partner) "
                         "or base_share (share of the cost split equally).")
    if base_share is not None:
        if not 0.0 <= float(base_share) <= 1.0:
            raise InputError(f"base_share: expected a share between 0 and 1, got {base_share!r}.")
        b = np.broadcast_to(c[..., None] * float(base_share) / n, np.broadcast_shapes(
            c.shape + (1,), d.shape))
    else:
        b = np.asarray(base, dtype=float)
        if not np.all(np.isfinite(b)) or np.any(b < 0):
            raise InputError("base: base amounts must be non-negative numbers of pounds.")
        b = np.broadcast_to(b, np.broadcast_shapes(b.shape, d.shape, c.shape + (1,)))
    rest = c - b.sum(axis=-1)
    if np.any(rest < -1e-9 * np.maximum(1.0, c)):
        raise InputError(f"base: the bases add up to {float(np.max(b.sum(axis=-1))):,.2f}, "
                         f"more than the cost to share ({float(np.min(c)):,.2f}). Lower them.")
    rest = np.maximum(rest, 0.0)
    return b + rest[..., None] * d / d.sum(axis=-1, keepdims=True)


def capped_proportional(cost: Any, driver: Any, caps: Any, *, tol: float = 1e-9) -> np.ndarray:
    """Proportional with caps; the excess is redistributed pro rata among the uncapped.

    Parameters
    ----------
    cost : float or array (...)
        The cost to share.
    driver : array (..., n)
        Non-negative driver.
    caps : array (..., n)
        The most each partner will pay (``inf`` or ``NaN`` = no cap).

    Raises
    ------
    InputError
        When the caps cannot cover the cost: the caps of partners with a
        positive driver add up to less than the cost (a partner with a zero
        driver pays nothing under a proportional rule).

    Examples
    --------
    >>> capped_proportional(1000, [1, 1, 2], [200, None, None]).round(2).tolist()
    [200.0, 266.67, 533.33]
    """
    c = _cost(cost)
    d = _driver(driver, "driver")
    cap = _caps(caps)
    if np.any(cap < 0):
        raise InputError("caps: a cap must not be negative.")
    cap = np.broadcast_to(cap, np.broadcast_shapes(cap.shape, d.shape))
    d = np.broadcast_to(d, cap.shape)
    c = np.broadcast_to(c, np.broadcast_shapes(c.shape, cap.shape[:-1]))
    reach = np.where(d > 0, cap, 0.0).sum(axis=-1)
    short = reach < c * (1 - 1e-12)
    if np.any(short):
        k = np.argmax(short) if short.ndim else 0
        r = float(np.ravel(reach)[k])
        cc = float(np.ravel(c)[k])
        raise InputError(f"caps: the caps cannot cover the cost: partners with a positive driver "
                         f"can pay at most {r:,.2f} in total but the cost is {cc:,.2f}. Raise "
                         "some caps or remove them (a partner whose driver is zero pays "
                         "nothing under a proportional rule).")
    fixed = np.zeros(cap.shape, dtype=bool)
    x = np.zeros(cap.shape)
    for _ in range(cap.shape[-1] + 1):
        paid = np.where(fixed, cap, 0.0).sum(axis=-1)
        remaining = np.maximum(c - paid, 0.0)
        w = np.where(fixed, 0.0, d)
        wsum = w.sum(axis=-1, keepdims=True)
        share = np.divide(w, wsum, out=np.zeros_like(w), where=wsum > 0)
        x = np.where(fixed, cap, remaining[..., None] * share)
        over = ~fixed & (x > cap * (1 + tol) + tol)
        if not np.any(over):
            break
        fixed = fixed | over
    return x


def airport(cost: Any, levels: Any) -> np.ndarray:
    """Littlechild-Owen rule for one shared service needed at different levels.

    ``levels`` say how much of the service each partner needs (pounds of its
    own stand-alone cost, hours, staff...). A group's cost is the cost of its
    highest level, scaled so that the highest level overall costs ``cost``.
    Each increment of level is paid equally by every partner needing at least
    that level (Littlechild & Owen 1973); equal to the Shapley value of that
    airport game.

    Examples
    --------
    >>> airport(18, [8, 11, 13, 18]).tolist()   # Littlechild & Owen / Wikipedia example
    [2.0, 3.0, 4.0, 9.0]
    """
    c = _cost(cost)
    lev = _driver(levels, "levels")
    n = lev.shape[-1]
    order = np.argsort(lev, axis=-1, kind="stable")
    srt = np.take_along_axis(lev, order, axis=-1)
    inc = np.diff(srt, axis=-1, prepend=0.0)
    users = n - np.arange(n)
    charge_sorted = np.cumsum(inc / users, axis=-1)
    out = np.empty_like(charge_sorted)
    np.put_along_axis(out, order, charge_sorted, axis=-1)
    top = srt[..., -1:]
    return out * (c[..., None] / top)


def allocate(rule: str, cost: Any, *, n: int | None = None, driver: Any = None,
             shares: Any = None, base: Any = None, base_share: float | None = None,
             caps: Any = None, levels: Any = None, benefit: Any = None) -> np.ndarray:
    """Vectorised entry point for the simple rules (for Monte Carlo use).

    Parameters
    ----------
    rule : str
        One of :data:`SIMPLE_RULES`.
    cost : float or array (...)
        Cost(s) to share.
    n, driver, shares, base, base_share, caps, levels, benefit
        The inputs the rule needs (see each rule).

    Returns
    -------
    ndarray (..., n)
        What each partner pays.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> draws = rng.uniform(1, 2, size=(10_000, 15))
    >>> allocate("beneficiary_pays", 1.2e6, benefit=draws).shape
    (10000, 15)
    """
    if rule == "equal":
        if n is None:
            for arr in (driver, benefit, levels, shares):
                if arr is not None:
                    n = np.shape(arr)[-1]
                    break
        if n is None:
            raise InputError("equal: give n (the number of partners).")
        return equal(cost, n)
    if rule == "proportional":
        return proportional(cost, _need(driver, "driver", rule))
    if rule == "beneficiary_pays":
        return beneficiary_pays(cost, _need(benefit if benefit is not None else driver,
                                            "benefit", rule))
    if rule == "fixed_shares":
        return fixed_shares(cost, _need(shares, "shares", rule))
    if rule == "base_plus_variable":
        return base_plus_variable(cost, _need(driver, "driver", rule), base=base,
                                  base_share=base_share)
    if rule == "capped_proportional":
        return capped_proportional(cost, _need(driver, "driver", rule), _need(caps, "caps", rule))
    if rule == "airport":
        return airport(cost, _need(levels, "levels", rule))
    raise InputError(f"rule: unknown simple rule {rule!r}; choose from {', '.join(SIMPLE_RULES)}.")


def _caps(caps: Any) -> np.ndarray:
    arr = np.asarray(caps)
    if arr.dtype == object:
        arr = np.vectorize(lambda v: np.nan if v is None else float(v), otypes=[float])(arr)
    arr = arr.astype(float)
    return np.where(np.isnan(arr), np.inf, arr)


def _need(x: Any, name: str, rule: str) -> Any:
    if x is None:
        raise InputError(f"{rule}: needs {name}=...")
    return x
