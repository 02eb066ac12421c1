"""The API's views of the reports: the JSON shapes the dashboard and the evidence export read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migradesk_metrics.domain.indicators import DIMENSIONS
from migradesk_metrics.domain.suppression import SuppressedTable


def summary_view(municipality: str, periods: Mapping[str, Mapping[str, Mapping[str, int | str]]]) -> dict[str, Any]:
    return {"municipality": municipality,
            "periods": {p: {"areas": {area: dict(counts) for area, counts in areas.items()}}
                        for p, areas in periods.items()}}


def indicators_view(municipality: str, periods: Mapping[str, Mapping[int, Any]]) -> dict[str, Any]:
    return {"municipality": municipality, "dimensions": DIMENSIONS,
            "periods": {p: dict(dimensions) for p, dimensions in periods.items()}}


def table_view(table: SuppressedTable) -> dict[str, Any]:
    return {"rows": list(table.row_labels), "columns": list(table.col_labels),
            "cells": [list(r) for r in table.cells], "row_totals": list(table.row_totals),
            "column_totals": list(table.col_totals), "total": table.grand_total}


def evidence_view(municipality: str, threshold: int,
                  periods: Mapping[str, Mapping[str, SuppressedTable]]) -> dict[str, Any]:
    return {"municipality": municipality, "suppression_threshold": threshold,
            "periods": {p: {name: table_view(t) for name, t in tables.items()} for p, tables in periods.items()}}
