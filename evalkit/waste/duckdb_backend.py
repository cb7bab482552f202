"""The failure-demand measures in DuckDB SQL, for event logs larger than memory.

Same definitions, same tie rule, same aggregates as
:func:`evalkit.waste.measures.compute_core`, written as SQL window functions
(``lag``, ``min``/``max`` over ``ROWS`` frames) over a single global order
``row_number() OVER (ORDER BY person_id, date, event_id, file, row)``. DuckDB
streams Parquet and spills sorts and windows to ``temp_directory`` when they
outgrow ``memory_limit``, so only the aggregates (a few rows per organisation
pair, and one row per person) come back into Python.

Route for tens of millions of events
------------------------------------
Write the log as Parquet (one file, or many: ``events/part-*.parquet``; files
are read in the order given, or sorted by name for a glob), then::

    from evalkit.waste import measure_waste_duckdb
    report = measure_waste_duckdb("events/*.parquet", people=people,
                                  unit_costs=costs, memory_limit="4GB",
                                  temp_directory="/scratch/duckdb")
"""

from __future__ import annotations

import glob as _glob
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .measures import (
    PER_PERSON_COLUMNS,
    WasteCore,
    WasteSettings,
    canonical_accounting,
    canonical_frame,
    resolve_people,
    sort_occurrences,
)

__all__ = ["compute_core_duckdb"]


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _files(source: Any) -> list[str]:
    if isinstance(source, (str, Path)):
        s = str(source)
        if any(ch in s for ch in "*?["):
            files = sorted(_glob.glob(s))
            if not files:
                raise InputError(f"No Parquet files match {s!r}.")
            return files
        if Path(s).is_dir():
            files = sorted(str(p) for p in Path(s).glob("*.parquet"))
            if not files:
                raise InputError(f"Folder {s!r} has no .parquet files.")
            return files
        if not Path(s).exists():
            raise InputError(f"Events file {s!r} does not exist.")
        return [s]
    if isinstance(source, (list, tuple)):
        files = [str(p) for p in source]
        missing = [f for f in files if not Path(f).exists()]
        if missing:
            raise InputError(f"Events file(s) not found: {', '.join(missing[:5])}.")
        if not files:
            raise InputError("source is an empty list of files.")
        return files
    raise InputError(
        "source must be a Parquet file path, a glob, a folder, a list of files or a "
        f"DataFrame; got {type(source).__name__}."
    )


def compute_core_duckdb(
    source: Any,
    people: pd.DataFrame | None = None,
    settings: WasteSettings | None = None,
    *,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    threads: int | None = None,
    connection: Any = None,
) -> WasteCore:
    """Compute :class:`WasteCore` with DuckDB (see the module docstring)."""
    import duckdb

    s = settings or WasteSettings()
    con = connection or duckdb.connect()

    def X(sql: str) -> Any:  # run one statement; a query comes back as a lazy relation
        return con.sql(sql)

    X("SET preserve_insertion_order = false")
    if memory_limit:
        X(f"SET memory_limit = {_lit(memory_limit)}")
    if temp_directory:
        X(f"SET temp_directory = {_lit(temp_directory)}")
    if threads:
        X(f"SET threads = {int(threads)}")

    # ---- source relation with file order
    if isinstance(source, pd.DataFrame):
        src = source.assign(__evalkit_row=np.arange(len(source), dtype=np.int64))
        con.register("__evalkit_src", src)
        X("CREATE OR REPLACE TEMP VIEW src AS SELECT *, 0 AS __fidx, "
                    "__evalkit_row AS __frow FROM __evalkit_src")
        cols = list(source.columns)
    else:
        files = _files(source)
        flist = "[" + ", ".join(_lit(f) for f in files) + "]"
        X("CREATE OR REPLACE TEMP TABLE __files AS SELECT * FROM (VALUES "
                    + ", ".join(f"({_lit(f)}, {i})" for i, f in enumerate(files))
                    + ") t(fname, fidx)")
        X(
            f"CREATE OR REPLACE TEMP VIEW src AS SELECT r.*, f.fidx AS __fidx, "
            f"r.file_row_number AS __frow FROM read_parquet({flist}, filename = true, "
            f"file_row_number = true) r JOIN __files f ON r.filename = f.fname")
        cols = [r[0] for r in X("DESCRIBE SELECT * FROM src").fetchall()]

    for key in ("person_id", "date", "organisation", "event_type"):
        if s.col(key) not in cols:
            raise InputError(
                f"events have no {s.col(key)!r} column (the {key} column). Found: "
                f"{', '.join(c for c in cols if not c.startswith('__'))}.")
    has_ref = s.col("referred_to") in cols
    has_svc = s.col("service") in cols
    has_eid = s.col("event_id") in cols
    if s.declined_by == "referred_to" and not has_ref:
        raise InputError("declined_by='referred_to' needs a referred_to column in events.")
    if has_eid:
        nnull = X(f"SELECT count(*) FROM src WHERE {_q(s.col('event_id'))} IS NULL"
                            ).fetchall()[0][0]
        if nnull:
            raise InputError(
                f"events.{s.col('event_id')} has {nnull} empty cell(s); fill them or drop "
                "the column (then file order breaks same-time ties).")

    ppl, _ = resolve_people(people, s.comparison_date)
    if ppl is not None:
        pp_df = pd.DataFrame({
            "person_id": ppl["person_id"].to_numpy(dtype=object),
            "in_scope": ppl["in_scope"].to_numpy(dtype=bool),
            "grp": ppl["group"].to_numpy(dtype=object),
            "cut": [None if pd.isna(c) else int(pd.Timestamp(c).value // 86_400_000_000_000)
                    for c in ppl["cut"]],
        })
        pp_df["cut"] = pd.array(pp_df["cut"], dtype="Int64")
        con.register("__evalkit_people", pp_df)

    known = s.known_event_types
    roles = s.event_types
    et_in = ", ".join(_lit(k) for k in known)
    day_expr = "(CAST(ts AS DATE) - DATE '1970-01-01')"
    date_col = _q(s.col("date"))
    dtype = {r[0]: r[1] for r in X("DESCRIBE SELECT * FROM src").fetchall()}
    dt = dtype.get(s.col("date"), "")
    if "TIME ZONE" in dt:
        ts_expr = f"CAST(timezone('UTC', {date_col}) AS TIMESTAMP)"
    else:
        ts_expr = f"TRY_CAST({date_col} AS TIMESTAMP)"
    reason = [
        "WHEN r.person_id IS NULL THEN 'missing person_id'",
        "WHEN ts IS NULL THEN 'missing or invalid date'",
        "WHEN organisation IS NULL THEN 'missing organisation'",
        "WHEN et_raw IS NULL THEN 'missing event type'",
        f"WHEN et NOT IN ({et_in}) THEN 'unknown:' || et_raw",
    ]
    if s.start is not None:
        reason.append(f"WHEN day < {s.start.value // 86_400_000_000_000} "
                      "THEN 'dated before the start date'")
    if s.end is not None:
        reason.append(f"WHEN day > {s.end.value // 86_400_000_000_000} "
                      "THEN 'dated after the end date'")
    if ppl is not None:
        reason.append("WHEN p.person_id IS NULL THEN 'person not in the people table'")
        reason.append("WHEN NOT p.in_scope THEN 'person not in scope'")
    join = ("LEFT JOIN __evalkit_people p ON p.person_id = r.person_id"
            if ppl is not None else "")
    grp = "coalesce(p.grp, 'all')" if ppl is not None else "'all'"
    cut = "p.cut" if ppl is not None else "CAST(NULL AS BIGINT)"
    def plain(key: str) -> str:
        """A column as stored; a pandas categorical (DuckDB ENUM) as text, so it sorts
        by value as on the in-memory path, not by category position."""
        c = s.col(key)
        if dtype.get(c, "").startswith("ENUM"):
            return f"CAST({_q(c)} AS VARCHAR)"
        return _q(c)

    eid = plain("event_id") if has_eid else "CAST(NULL AS INTEGER)"
    svc_expr = (f"CAST({_q(s.col('service'))} AS VARCHAR)" if has_svc
                else "CAST(NULL AS VARCHAR)")
    ref_expr = (f"CAST({_q(s.col('referred_to'))} AS VARCHAR)" if has_ref
                else "CAST(NULL AS VARCHAR)")
    X(f"""
        CREATE OR REPLACE TEMP TABLE raw AS
        SELECT *, {day_expr} AS day FROM (
          SELECT {plain('person_id')} AS person_id, {ts_expr} AS ts,
                 CAST({_q(s.col('organisation'))} AS VARCHAR) AS organisation,
                 CAST({_q(s.col('event_type'))} AS VARCHAR) AS et_raw,
                 lower(trim(CAST({_q(s.col('event_type'))} AS VARCHAR))) AS et,
                 {svc_expr} AS service, {ref_expr} AS referred_to,
                 {eid} AS event_id, __fidx, __frow
          FROM src)""")
    X(f"""
        CREATE OR REPLACE TEMP TABLE classified AS
        SELECT r.*, CASE {' '.join(reason)} ELSE 'used' END AS reason,
               {grp} AS grp, {cut} AS cut
        FROM raw r {join}""")
    acc = X("SELECT reason, count(*) AS rows FROM classified GROUP BY reason").df()
    n_rows = int(acc["rows"].sum())
    acc["reason"] = [f"unknown event type {r[len('unknown:'):]!r}" if r.startswith("unknown:")
                     else r for r in acc["reason"]]
    accounting = canonical_accounting(acc)
    X("""
        CREATE OR REPLACE TEMP TABLE ev AS
        SELECT person_id, day, organisation, service, et AS event_type, referred_to, grp, cut,
               row_number() OVER (ORDER BY person_id, ts, event_id, __fidx, __frow) AS pos
        FROM classified WHERE reason = 'used'""")
    X("DROP TABLE raw")
    X("DROP TABLE classified")

    period = ("CASE WHEN {t}.cut IS NULL THEN 'all' WHEN {t}.day >= {t}.cut THEN 'after' "
              "ELSE 'before' END")
    A, R, D, INT = (_lit(roles["assessment"]), _lit(roles["referral"]),
                    _lit(roles["declined"]), _lit(roles["intervention"]))
    dec_org = "organisation" if s.declined_by == "organisation" else "referred_to"
    W, RR, FD = int(s.window_days), int(s.rereferral_days), int(s.front_door_days)
    occ_cols = ("person_id, organisation, service, event_type, other_organisation, "
                "grp, period")
    X(f"""
        CREATE OR REPLACE TEMP TABLE occ AS
        SELECT 'handoff' AS measure, {occ_cols} FROM (
          SELECT e.*, {period.format(t='e')} AS period,
                 lag(organisation) OVER (PARTITION BY person_id ORDER BY pos) AS other_organisation
          FROM ev e) WHERE other_organisation IS NOT NULL AND other_organisation <> organisation
        UNION ALL
        SELECT CASE WHEN other_organisation = organisation THEN 'reassessment'
                    ELSE 'story_retold' END, {occ_cols} FROM (
          SELECT e.*, {period.format(t='e')} AS period,
                 lag(organisation) OVER w AS other_organisation, lag(day) OVER w AS pday
          FROM ev e WHERE event_type = {A}
          WINDOW w AS (PARTITION BY person_id ORDER BY pos))
        WHERE pday IS NOT NULL AND day - pday <= {W}
        UNION ALL
        SELECT 'bounced_referral', r.person_id, r.organisation, r.service, r.event_type,
               d.decliner, r.grp, {period.format(t='r')} FROM (
          SELECT *, {dec_org} AS decliner,
                 min(CASE WHEN event_type = {R} THEN pos END) OVER (
                   PARTITION BY person_id ORDER BY pos
                   ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_ref
          FROM ev WHERE event_type IN ({R}, {D})) d
        JOIN ev r ON r.pos = d.next_ref
        WHERE d.event_type = {D} AND r.day - d.day <= {RR}
        UNION ALL
        SELECT 'ping_pong', person_id, organisation, service, event_type, korg, grp,
               {period.format(t='y')} FROM (
          SELECT x.*, max(CASE WHEN event_type = {D} THEN day END) OVER (
                   PARTITION BY person_id, korg ORDER BY pos
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_dec
          FROM (SELECT *, CASE WHEN event_type = {D} THEN {dec_org} ELSE referred_to END AS korg
                FROM ev WHERE event_type IN ({R}, {D})) x
          WHERE korg IS NOT NULL) y
        WHERE event_type = {R} AND last_dec IS NOT NULL AND day - last_dec <= {RR}
    """)
    occurrences = X("""
        SELECT measure, organisation, service, event_type, other_organisation,
               grp AS "group", period, count(*) AS count
        FROM occ GROUP BY ALL""").df()
    occurrences = sort_occurrences(canonical_frame(occurrences))

    event_counts = X(f"""
        SELECT organisation, event_type, grp AS "group", {period.format(t='ev')} AS period,
               count(*) AS count FROM ev GROUP BY ALL
        ORDER BY organisation, event_type, "group", period""").df()
    event_counts = canonical_frame(event_counts)

    X(f"""
        CREATE OR REPLACE TEMP TABLE refs AS
        SELECT person_id, organisation, referred_to, grp, {period.format(t='z')} AS period,
               next_int - day AS wait_days FROM (
          SELECT *, min(CASE WHEN event_type = {INT} THEN day END) OVER (
                   PARTITION BY person_id ORDER BY pos
                   ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_int
          FROM ev WHERE event_type IN ({R}, {INT})) z
        WHERE event_type = {R}""")
    waits = X("""
        SELECT organisation, referred_to, grp AS "group", period, wait_days, count(*) AS count
        FROM refs GROUP BY ALL""").df()
    waits = canonical_frame(waits)
    waits["wait_days"] = pd.array(waits["wait_days"], dtype="Int64")
    waits = waits.sort_values(["organisation", "referred_to", "group", "period", "wait_days"],
                              ignore_index=True, na_position="last")

    X(f"""
        CREATE OR REPLACE TEMP TABLE fd AS
        WITH a AS (
          SELECT person_id, organisation, day, pos,
                 CASE WHEN lag(day) OVER w IS NULL OR day - lag(day) OVER w > {FD}
                      THEN 1 ELSE 0 END AS new_run
          FROM ev WHERE event_type = {A}
          WINDOW w AS (PARTITION BY person_id, organisation ORDER BY pos)),
        b AS (SELECT *, sum(new_run) OVER (PARTITION BY person_id, organisation ORDER BY pos
                                          ROWS UNBOUNDED PRECEDING) AS run FROM a),
        runs AS (SELECT person_id, organisation, run, min(day) AS s, max(day) + {FD} + 1 AS e
                 FROM b GROUP BY ALL),
        sw AS (SELECT person_id, s AS t, 1 AS d FROM runs
               UNION ALL SELECT person_id, e AS t, -1 AS d FROM runs),
        cum AS (SELECT person_id, sum(d) OVER (PARTITION BY person_id ORDER BY t, d
                                              ROWS UNBOUNDED PRECEDING) AS open FROM sw)
        SELECT person_id, max(open) AS front_doors FROM cum GROUP BY person_id""")
    pp = X(f"""
        WITH base AS (
          SELECT person_id, any_value(grp) AS "group", min(day) AS first_day,
                 max(day) AS last_day, count(*) AS events,
                 count(DISTINCT organisation) AS organisations,
                 count(*) FILTER (WHERE event_type = {A}) AS assessments,
                 count(*) FILTER (WHERE event_type = {R}) AS referrals,
                 count(*) FILTER (WHERE event_type = {D}) AS referrals_declined
          FROM ev GROUP BY person_id),
        o AS (
          SELECT person_id,
                 count(*) FILTER (WHERE measure = 'handoff') AS handoffs,
                 count(*) FILTER (WHERE measure IN ('reassessment', 'story_retold'))
                   AS repeat_assessments,
                 count(*) FILTER (WHERE measure = 'reassessment') AS reassessments,
                 count(*) FILTER (WHERE measure = 'story_retold') AS stories_retold,
                 count(*) FILTER (WHERE measure = 'bounced_referral') AS bounced_referrals,
                 count(*) FILTER (WHERE measure = 'ping_pong') AS ping_pong
          FROM occ GROUP BY person_id),
        nf AS (SELECT person_id, count(*) AS referrals_never_followed FROM refs
               WHERE wait_days IS NULL GROUP BY person_id)
        SELECT b.person_id, b."group", b.first_day, b.last_day, b.events, b.organisations,
               coalesce(o.handoffs, 0) AS handoffs, b.assessments,
               coalesce(o.repeat_assessments, 0) AS repeat_assessments,
               coalesce(o.reassessments, 0) AS reassessments,
               coalesce(o.stories_retold, 0) AS stories_retold, b.referrals,
               b.referrals_declined, coalesce(o.bounced_referrals, 0) AS bounced_referrals,
               coalesce(o.ping_pong, 0) AS ping_pong,
               coalesce(nf.referrals_never_followed, 0) AS referrals_never_followed,
               coalesce(f.front_doors, 0) AS front_doors
        FROM base b LEFT JOIN o USING (person_id) LEFT JOIN nf USING (person_id)
        LEFT JOIN fd f USING (person_id)
        ORDER BY b.person_id""").df()
    pp.insert(2, "first_date", (pp.pop("first_day").to_numpy(dtype=np.int64)
                                * 86_400_000_000_000).astype("datetime64[ns]"))
    pp.insert(3, "last_date", (pp.pop("last_day").to_numpy(dtype=np.int64)
                               * 86_400_000_000_000).astype("datetime64[ns]"))
    for c in PER_PERSON_COLUMNS[4:]:
        pp[c] = pp[c].astype(np.int64)
    for c in ("person_id", "group"):
        pp[c] = pd.Series(pp[c].to_numpy(dtype=object), index=pp.index, dtype=object)
    per_person = pp[list(PER_PERSON_COLUMNS)]

    lo, hi, nref = X(
        f"SELECT min(day), max(day), count(*) FILTER (WHERE event_type = {R} AND "
        "referred_to IS NULL) FROM ev").fetchall()[0]
    meta = {
        "n_rows": n_rows,
        "period_start": s.start if s.start is not None else (
            None if lo is None else pd.Timestamp(int(lo) * 86_400_000_000_000)),
        "period_end": s.end if s.end is not None else (
            None if hi is None else pd.Timestamp(int(hi) * 86_400_000_000_000)),
        "has_event_id": has_eid,
        "has_referred_to": has_ref,
        "referrals_without_referred_to": int(nref or 0),
    }
    for t in ("ev", "occ", "refs", "fd"):
        X(f"DROP TABLE IF EXISTS {t}")
    if connection is None:
        con.close()
    return WasteCore(accounting, occurrences, event_counts, waits, per_person, meta)
