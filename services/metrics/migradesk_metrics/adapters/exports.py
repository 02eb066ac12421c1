"""The dashboard's files: a dimension's tables as CSV and as XLSX, and the printable evidence report (PDF) of a
month, organised by the ten dimensions. They hold the tables the page shows, suppressed as the page shows them,
named in the page's language: aggregates only.

- CSV: each table after the other (its title, its header, its rows, its totals), a blank line between; numbers
  plain (a share as a fraction of 1), "<5" and "x" as published, an empty cell for no data. UTF-8 with a byte
  order mark, which spreadsheet programs read as UTF-8.
- XLSX: a sheet per table; numbers as numbers (shares formatted as percentages), the marks as text.
- PDF: the municipality, the month, each dimension's indicators and breakdowns as the page formats them, and the
  method notes (what each indicator counts, the suppression rule). A year's report (the annual report) adds each
  dimension's twelve months and how a year's figures are drawn from its months'. The typeface (fonts/) is
  embedded: the letters of the five languages print wherever the file is opened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Font

from migradesk_metrics.adapters.labels import (
    AGGREGATES_ONLY,
    INDICATOR_LABELS,
    INDICATOR_NOTES,
    TOTAL,
    Names,
    machine_value,
)
from migradesk_metrics.domain.dashboard import DimensionView, Table, is_year
from migradesk_shared.web.i18n import N_, format_date

FONTS = Path(__file__).resolve().parents[1] / "fonts"
FONT_FAMILY = "DejaVuSans"

REPORT_TITLE = N_("MigraCidades evidence report")
ANNUAL_REPORT_TITLE = N_("MigraCidades annual report %(year)s")
YEARLY_FIGURES_HEADING = N_("A year's figures")
YEARLY_FIGURES = N_(
    "A year's figures are drawn from its months' published figures, so that they give away nothing the months "
    "hide. A count is the sum of the months' counts where every month shows its count; where a month shows "
    "\"<%(threshold)s\", the year shows the range the months allow (\"12–18\"), and \"x\" where a month hides "
    "it as \"x\". A share is shown only where every count of the year is exact and every month shows its "
    "share. Medians and 90th percentiles come from the year's summed duration histograms, shown where the "
    "lowest count the months allow reaches %(threshold)s. Instruments in force are those standing at the "
    "year's end.")
DIMENSION_HEADING = N_("Dimension %(number)s: %(name)s")
NO_DATA_IN_MONTH = N_("No data for this dimension in %(month)s.")
COMPARED_WITH = N_("%(month)s, compared with %(compared)s")
MUNICIPALITY = N_("Municipality")
PERIOD = N_("Period")
PRODUCED_ON = N_("Produced on %(day)s")
METHOD_NOTES = N_("Method notes")
SUPPRESSION_HEADING = N_("Small cells")


def _header(table: Table, names: Names) -> list[str]:
    return [names.row_kind(table), *(names.column(table, key) for key in table.columns)]


def _rows(table: Table, names: Names) -> list[tuple[str, list[int | float | str]]]:
    rows = [(names.row(table, code), [machine_value(v) for v in row])
            for code, row in zip(table.rows, table.cells, strict=True)]
    if table.totals is not None:
        rows.append((names.gettext(TOTAL), [machine_value(v) for v in table.totals]))
    return rows


def dimension_csv(view: DimensionView, names: Names, municipality: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([names.gettext(MUNICIPALITY), municipality])
    writer.writerow([names.gettext(PERIOD), names.month(view.period), view.period])
    for table in view.tables:
        writer.writerow([])
        writer.writerow([names.title(table)])
        writer.writerow(_header(table, names))
        for label, values in _rows(table, names):
            writer.writerow([label, *values])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _sheet_title(title: str, taken: set[str]) -> str:
    # A sheet's name: at most 31 characters, none of []:*?/\, and unique in the workbook.
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title)[:31].strip()
    name, n = cleaned, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = cleaned[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def dimension_xlsx(view: DimensionView, names: Names, municipality: str) -> bytes:
    workbook = Workbook()
    default = workbook.active
    taken: set[str] = set()
    bold = Font(bold=True)
    for table in view.tables:
        sheet = workbook.create_sheet(_sheet_title(names.title(table), taken))
        sheet.append([names.title(table)])
        sheet["A1"].font = bold
        sheet.append([names.gettext(MUNICIPALITY), municipality])
        sheet.append([names.gettext(PERIOD), names.month(view.period), view.period])
        sheet.append([])
        sheet.append(_header(table, names))
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        units = [[v.unit for v in row] for row in table.cells]
        if table.totals is not None:
            units.append([v.unit for v in table.totals])
        for (label, values), row_units in zip(_rows(table, names), units, strict=True):
            sheet.append([label, *values])
            for column, unit in enumerate(row_units, start=2):
                cell = sheet.cell(row=sheet.max_row, column=column)
                if unit == "pct" and isinstance(cell.value, int | float):
                    cell.number_format = "0.0%"
        sheet.column_dimensions["A"].width = 48
    if default is not None and view.tables:
        workbook.remove(default)
    elif default is not None:
        default.title = _sheet_title(names.dimension(view.dimension), taken)
        default.append([names.gettext(NO_DATA_IN_MONTH) % {"month": names.month(view.period)}])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class _Report(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font(FONT_FAMILY, "", FONTS / "DejaVuSans.ttf")
        self.add_font(FONT_FAMILY, "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", 7)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}", align="C")

    def heading(self, text: str, size: float) -> None:
        self.set_font(FONT_FAMILY, "B", size)
        self.multi_cell(0, size * 0.55, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def paragraph(self, text: str, size: float = 9) -> None:
        self.set_font(FONT_FAMILY, "", size)
        self.multi_cell(0, size * 0.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def data_table(self, table: Table, names: Names) -> None:
        self.heading(names.title(table), 10)
        self.set_font(FONT_FAMILY, "", 8)
        n = len(table.columns)
        first = 100 if table.row_kind == "indicator" else 60  # the indicators are named at length
        widths = (first, *([(self.epw - first) / n] * n))
        with self.table(col_widths=widths, text_align=("LEFT", *(["RIGHT"] * n)), line_height=4.6,
                        first_row_as_headings=True) as pdf_table:
            pdf_table.row(_header(table, names))
            for code, row in zip(table.rows, table.cells, strict=True):
                pdf_table.row([names.row(table, code), *(names.value(v) for v in row)])
            if table.totals is not None:
                pdf_table.row([names.gettext(TOTAL), *(names.value(v) for v in table.totals)])
        self.ln(3)


def evidence_pdf(views: Sequence[DimensionView], names: Names, *, municipality: str, period: str,
                 compare: str | None, threshold: int, today: date) -> bytes:
    """The period's evidence report: a section per dimension (its indicators and breakdowns; a month's trend is the
    dashboard's, a year's twelve months are printed), then the method notes."""
    annual = is_year(period)
    title = (names.gettext(ANNUAL_REPORT_TITLE) % {"year": period} if annual else names.gettext(REPORT_TITLE))
    month = names.month(period)
    pdf = _Report(f"{title} · {municipality} · {month}")
    pdf.set_title(f"{title}: {municipality}, {month}")
    pdf.set_creator("MigraDesk")
    pdf.set_lang(names.locale.replace("_", "-"))
    pdf.add_page()
    pdf.heading(title, 16)
    pdf.paragraph(f"{names.gettext(MUNICIPALITY)}: {municipality}", 11)
    period_text = (names.gettext(COMPARED_WITH) % {"month": month, "compared": names.month(compare)}
                   if compare else month)
    pdf.paragraph(f"{names.gettext(PERIOD)}: {period_text}", 11)
    pdf.paragraph(names.gettext(PRODUCED_ON) % {"day": format_date(today, names.locale, "long")})
    pdf.paragraph(names.gettext(AGGREGATES_ONLY))
    pdf.paragraph(names.suppression_rule(threshold))
    for view in views:
        pdf.ln(3)
        pdf.heading(names.gettext(DIMENSION_HEADING) % {"number": view.dimension,
                                                          "name": names.dimension(view.dimension)}, 13)
        if not view.has_data:
            pdf.paragraph(names.gettext(NO_DATA_IN_MONTH) % {"month": month})
            continue
        for table in view.tables:
            # A month's trend is the dashboard's; a year's twelve months are part of its evidence.
            if table.key != "trend" or annual:
                pdf.data_table(table, names)
    pdf.add_page()
    pdf.heading(names.gettext(METHOD_NOTES), 13)
    for key, note in method_notes(names):
        pdf.set_font(FONT_FAMILY, "B", 9)
        pdf.multi_cell(0, 4.5, key, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.paragraph(note)
    pdf.heading(names.gettext(SUPPRESSION_HEADING), 11)
    pdf.paragraph(names.suppression_rule(threshold))
    if annual:
        pdf.heading(names.gettext(YEARLY_FIGURES_HEADING), 11)
        pdf.paragraph(names.gettext(YEARLY_FIGURES) % {"threshold": threshold})
    return bytes(pdf.output())


def method_notes(names: Names) -> list[tuple[str, str]]:
    """(indicator, what it counts) in the page's language."""
    return [(names.gettext(INDICATOR_LABELS[key]), names.gettext(note)) for key, note in INDICATOR_NOTES.items()]
