"""Statistical disclosure control: no published number can identify a person.

Every table, chart label and download a report publishes goes through
:func:`protect` (or :func:`protect_table` for a one- or two-way table of
counts with totals). It applies the place's :class:`DisclosurePolicy`
(default: NHS England HES convention, counts of 1-7 suppressed and others
rounded to the nearest 5), suppresses derived figures and money totals based
on too few people or dominated by one or two people, and adds secondary
suppression so that no hidden figure can be recovered from the totals.

:func:`scan_build` (and ``evalkit check-disclosure``) reads every built file
and fails on any person identifier, date of birth, postcode or unsuppressed
small count. :class:`Pseudonymiser` gives keyed (HMAC-SHA256) pseudonyms for
sharing linked data between partners.

See ``docs/disclosure.md`` for the methods and their sources.
"""

from .pseudonymise import (
    KEY_ENV,
    Pseudonymiser,
    generate_key,
    load_key,
    pseudonymise,
    pseudonymise_frame,
)
from .rules import PRESETS, SOURCES, DisclosurePolicy, round_to_base
from .scan import Finding, ScanReport, place_needles, scan_build, scan_place_build
from .suppression import SuppressionResult, attacker_intervals, secondary_suppression
from .tables import (
    METADATA_SHEET,
    SENSITIVE_COLUMNS,
    Derived,
    Money,
    ProtectedTable,
    protect,
    protect_labels,
    protect_table,
    sidecar_path,
    summarise_money,
    write_csv,
    write_xlsx,
)

__all__ = [
    "DisclosurePolicy",
    "PRESETS",
    "SOURCES",
    "round_to_base",
    "protect",
    "protect_table",
    "protect_labels",
    "Derived",
    "Money",
    "ProtectedTable",
    "summarise_money",
    "write_csv",
    "write_xlsx",
    "sidecar_path",
    "SENSITIVE_COLUMNS",
    "METADATA_SHEET",
    "secondary_suppression",
    "attacker_intervals",
    "SuppressionResult",
    "scan_build",
    "scan_place_build",
    "place_needles",
    "ScanReport",
    "Finding",
    "Pseudonymiser",
    "pseudonymise",
    "pseudonymise_frame",
    "generate_key",
    "load_key",
    "KEY_ENV",
]
