"""The DuckDB path (SQL window functions over Parquet) gives the in-memory path's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_waste_measures import journeys

from evalkit.errors import InputError
from evalkit.schema import EVENT_TYPES
from evalkit.waste import measure_waste, measure_waste_duckdb
from evalkit.waste.duckdb_backend import compute_core_duckdb
from evalkit.waste.measures import WasteSettings, compute_core

CORE_TABLES = ("accounting", "occurrences", "event_counts", "waits", "per_person")


def assert_same_core(a, b):
    for name in CORE_TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.meta == b.meta


def random_log(n=3000, n_people=250, seed=0, timed=True):
    rng = np.random.default_rng(seed)
    orgs = np.array(["Council", "NHS", "Housing", "Police", "DWP"])
    et = rng.choice(np.array(EVENT_TYPES + ("Phone",), dtype=object), n,
                    p=[.2, .25, .2, .05, .1, .15, .04, .01])
    df = pd.DataFrame({
        "event_id": rng.permutation(n),
        "person_id": np.char.add("P", rng.integers(0, n_people, n).astype(str)).astype(object),
        "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D"),
        "organisation": orgs[rng.integers(0, 5, n)].astype(object),
        "service": np.where(rng.random(n) < 0.5, "Front door", None),
        "event_type": et,
        "referred_to": np.where(rng.random(n) < 0.8, orgs[rng.integers(0, 5, n)], None),
    })
    if timed:
        df["date"] += pd.to_timedelta(rng.integers(0, 3, n) * 3600, unit="s")
    df.loc[rng.integers(0, n, 5), "organisation"] = None
    return df


@pytest.mark.parametrize("with_id", [True, False])
def test_hand_built_log_dataframe_and_parquet(tmp_path, with_id):
    df = journeys(with_id)
    s = WasteSettings()
    a = compute_core(df, settings=s)
    assert_same_core(a, compute_core_duckdb(df, settings=s))
    path = tmp_path / "events.parquet"
    df.to_parquet(path)
    assert_same_core(a, compute_core_duckdb(str(path), settings=s))


def test_people_windows_and_roles_agree(tmp_path):
    df = journeys()
    people = pd.DataFrame({"person_id": ["P1", "P2", "P3", "P4", "P5"],
                           "pilot_start": pd.to_datetime(["2024-03-01", None, None,
                                                          "2024-01-01", None]),
                           "in_scope": [True, True, False, None, True]})
    for s in (WasteSettings(start="2023-06-01", end="2024-06-30", window_days=89,
                            rereferral_days=29, front_door_days=200),
              WasteSettings(declined_by="referred_to")):
        assert_same_core(compute_core(df, people, s), compute_core_duckdb(df, people, s))


@pytest.mark.parametrize("seed", [0, 1])
def test_random_log_split_over_parquet_files(tmp_path, seed):
    df = random_log(seed=seed, timed=bool(seed))
    people = pd.DataFrame({"person_id": [f"P{i}" for i in range(240)]})
    people["pilot_start"] = np.where(np.arange(240) % 3 == 0, pd.Timestamp("2023-07-01"),
                                     pd.NaT)
    people["in_scope"] = np.arange(240) % 11 != 0
    costs = pd.DataFrame({"item": ["a", "r"], "cost_gbp": [310.0, 55.0],
                          "price_year": ["2023-24"] * 2, "partner": ["LA", "LA"],
                          "cashable_share": [0.2, 0.1], "source": ["test"] * 2,
                          "event_type": ["assessment", "referral"]})
    # without event_id, the tie order is file order: file 1 then file 2, row by row
    df = df.drop(columns="event_id") if seed else df
    half = len(df) // 2
    files = [tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"]
    df.iloc[:half].to_parquet(files[0])
    df.iloc[half:].to_parquet(files[1])
    a = measure_waste(df, people, costs)
    b = measure_waste_duckdb([str(f) for f in files], people, costs)
    c = measure_waste_duckdb(str(tmp_path / "part-*.parquet"), people, costs)
    for other in (b, c):
        for name in a.table_names:
            x, y = a.to_frame(name), other.to_frame(name)
            if name == "settings":
                x, y = x[x["setting"] != "backend"], y[y["setting"] != "backend"]
            pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True),
                                          obj=name)
    assert a.to_frame("totals").loc[1, "count"] > 0


def test_missing_parquet_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        measure_waste_duckdb(str(tmp_path / "nope.parquet"))
    with pytest.raises(InputError, match="No Parquet files match"):
        measure_waste_duckdb(str(tmp_path / "none-*.parquet"))
    df = journeys().drop(columns="organisation")
    with pytest.raises(InputError, match="no 'organisation' column"):
        measure_waste_duckdb(df)


def test_categorical_dataframe_source_sorts_by_value():
    # pandas categoricals arrive in DuckDB as ENUMs, which sort by category position;
    # the backend sorts them by value, as the in-memory path does
    df = random_log(n=800, n_people=60, seed=3)
    cats = pd.CategoricalDtype(sorted(df["person_id"].unique())[::-1])
    cat = df.astype({"person_id": cats, "organisation": "category", "event_type": "category"})
    assert_same_core(compute_core(cat), compute_core_duckdb(cat))
    assert_same_core(compute_core(cat), compute_core(df))
