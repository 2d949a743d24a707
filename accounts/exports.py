"""The security audit log as a spreadsheet (xlsx or CSV), for the auditor.

The log holds names and addresses, so exporting it is itself written to the log.
"""

import codecs
import io
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook

from gov_platform.spreadsheets import csv_writer, new_sheet

from .audit import Kind, describe_detail, record

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's sheet holds 1,048,576 rows; a larger list is cut and says so in its last row.
MAX_ROWS = 1_000_000


def _header():
    return [
        pgettext("audit log column", "Time"),
        pgettext("audit log column", "Event"),
        pgettext("audit log column", "By"),
        pgettext("audit log column", "Concerning"),
        pgettext("audit log column", "IP address"),
        pgettext("audit log column", "Browser or client"),
        pgettext("audit log column", "Details"),
    ]


def _rows(events):
    for event in events.iterator(chunk_size=2000):
        yield [
            timezone.localtime(event.at).replace(tzinfo=None),
            event.get_kind_display(),
            event.actor_name,
            event.target,
            event.ip_address or "",
            event.user_agent,
            describe_detail(event.detail),
        ]


@transaction.atomic
def export_events(*, actor, events, fmt: str, filters: str) -> tuple[bytes, int]:
    """The events as an xlsx (``fmt`` "xlsx") or CSV file; returns the content and the row count."""
    buffer = io.BytesIO()
    written = 0
    if fmt == "csv":
        # A byte-order mark, so Excel opens the UTF-8 file with its Chinese intact.
        buffer.write(codecs.BOM_UTF8)
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True)
        writer = csv_writer(text)
        writer.writerow(_header())
        for row in _rows(events[:MAX_ROWS]):
            row[0] = f"{row[0]:%Y-%m-%d %H:%M:%S}" if isinstance(row[0], datetime) else row[0]
            writer.writerow(row)
            written += 1
        text.detach()
    else:
        workbook = Workbook(write_only=True)
        sheet = new_sheet(workbook, _("Security audit log"))
        sheet.append(_header())
        for row in _rows(events[: MAX_ROWS + 1]):
            if written == MAX_ROWS:
                sheet.append([_("Cut at %(n)d rows: narrow the filter.") % {"n": MAX_ROWS}])
                break
            sheet.append(row)
            written += 1
        workbook.save(buffer)
    record(Kind.DATA_EXPORT, actor=actor, export="security_log", format=fmt, filters=filters, rows=written)
    return buffer.getvalue(), written
