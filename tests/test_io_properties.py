"""Property: the loader either accounts for every input row or raises ValidationError."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import ValidationError
from evalkit.io import read_table

CELLS = {
    "person_id": st.sampled_from(["P1", "P2", "P3", "P4", "", " P5 ", "P1"]),
    "area": st.sampled_from(["North", "South", "", "Über-Nord", "=1+1"]),
    "pilot_start": st.sampled_from(["", "2024-04-01", "01/04/2024", "2024-02-30", "soon",
                                    "2024-04", "2024-04-01 00:00:00"]),
    "deprivation_decile": st.sampled_from(["", "1", "10", "0", "11", "3.5", "x", "4.0"]),
    "sex": st.sampled_from(["", "female", "F", "male", "M", "other", "?"]),
    "prior_contacts": st.sampled_from(["", "0", "12", "many", "£3"]),
}
COLUMNS = list(CELLS)


@st.composite
def csv_files(draw):
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=len(COLUMNS),
                         unique=True))
    n = draw(st.integers(min_value=0, max_value=25))
    rows = []
    for _ in range(n):
        if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
            rows.append([""] * len(cols))  # a blank row
        else:
            rows.append([draw(CELLS[c]) for c in cols])
    sep = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n")
    w.writerow(cols)
    w.writerows(rows)
    return buf.getvalue().encode(encoding), n


@given(csv_files())
def test_rows_are_accounted_for_or_an_error_is_raised(case):
    data, n_rows = case
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "people.csv"
        path.write_bytes(data)
        try:
            df, account = read_table(path, "people")
        except ValidationError as err:
            assert err.problems, "a ValidationError must list at least one problem"
            for p in err.problems:
                assert p.file and p.file.endswith("people.csv")
                assert p.message
            return
    assert account.read == n_rows
    assert account.used + account.excluded == account.read
    assert len(df) == account.used
    assert set(account.exclusions) <= {"blank row"}
