"""Every spreadsheet the platform writes neutralises text that Excel would run as a formula."""

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from gov_platform.spreadsheets import csv_writer, new_sheet, safe_row, strip_quote_prefix

ROOT = Path(__file__).resolve().parents[2]
TRIGGERS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("text", TRIGGERS)
def test_csv_text_starting_a_formula_gets_an_apostrophe(text):
    assert safe_row([text]) == ["'" + text]
    assert strip_quote_prefix("'" + text) == text


def test_other_values_pass_unchanged():
    row = [1, -2, 3.5, None, "", "楼道堆放杂物", "a=b", "'plain", True]
    assert safe_row(row) == row
    assert strip_quote_prefix("'plain") == "'plain"  # an apostrophe the export did not add stays


def test_workbook_cells_are_text_with_quote_prefix():
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "x")
    sheet.append([*TRIGGERS, -5, 2.5, "ok"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    (row,) = load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows()
    # (XML turns the carriage return into a line feed; the cell is text all the same.)
    assert [(c.value, c.data_type, c.quotePrefix) for c in row[: len(TRIGGERS)]] == [
        (text.replace("\r", "\n"), "s", True) for text in TRIGGERS
    ]
    assert [(c.value, c.data_type, c.quotePrefix) for c in row[len(TRIGGERS) :]] == [
        (-5, "n", False),
        (2.5, "n", False),
        ("ok", "s", False),
    ]


def test_csv_writer_neutralises_every_row():
    buffer = io.StringIO()
    csv_writer(buffer).writerow(["=cmd", 7, "fine"])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=cmd", "7", "fine"]


def test_no_spreadsheet_is_written_around_the_helper():
    """Closing the class: sheets and CSV writers are made only through gov_platform.spreadsheets."""
    raw = re.compile(r"\.create_sheet\(|csv\.(writer|DictWriter)\(|\.active\b.*\.append\(")
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {".venv", "tests", "benchmarks", "var"} or relative == Path(
            "gov_platform/spreadsheets.py"
        ):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
