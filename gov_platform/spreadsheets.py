"""Rows for the spreadsheets the platform writes, with formula injection neutralised.

A resident writes the first line of a report; an official opens the case export in Excel.
A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
read as a formula there (a live ``=HYPERLINK(...)``, or worse), so such text is written as
text, following OWASP's CSV-injection guidance: in a workbook a string cell with Excel's
quote prefix (the value itself unchanged, so an exported file imports back as it was), in a
CSV file the text behind a leading apostrophe. Numbers, dates and empty cells pass unchanged.
"""

import csv

from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def safe_row(values, *, sheet=None) -> list:
    """``values`` ready for ``sheet.append`` (a write-only openpyxl sheet) or, without a sheet,
    for ``csv.writer.writerow``."""
    if sheet is None:
        return ["'" + value if is_formula_like(value) else value for value in values]
    return [_text_cell(sheet, value) if is_formula_like(value) else value for value in values]


def _text_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl took the leading "=" for a formula
    cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell
    return cell


def strip_quote_prefix(value):
    """The inverse for a file read back in: an apostrophe added by ``safe_row`` is not data."""
    if isinstance(value, str) and value.startswith("'") and is_formula_like(value[1:]):
        return value[1:]
    return value


class _SafeSheet:
    def __init__(self, sheet):
        self.sheet = sheet

    def append(self, values):
        self.sheet.append(safe_row(values, sheet=self.sheet))


class _SafeCsvWriter:
    def __init__(self, writer):
        self.writer = writer

    def writerow(self, values):
        return self.writer.writerow(safe_row(values))


def new_sheet(workbook, title):
    """A new sheet of a write-only workbook whose ``append`` writes every row through ``safe_row``."""
    return _SafeSheet(workbook.create_sheet(title))


def csv_writer(fileobj, **options):
    """``csv.writer`` whose ``writerow`` writes every row through ``safe_row``."""
    return _SafeCsvWriter(csv.writer(fileobj, **options))
