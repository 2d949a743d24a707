"""Admin list rows without per-row work that is the same on every row.

Django builds every cell of a changelist the generic way: for each of the page's 50 rows and each column it
finds again what the column is (a model field, an admin method), flattens a field's choices again, renders the
action checkbox through the template engine, reverses the change URL and, with filters on, resolves it again to
add them. On the case list (50 rows of ten columns) that was about a quarter of the worker's time per page.

Here each column is worked out once per page (``RowPlan``) and each row only reads its values. The HTML is the
same as Django's, byte for byte (tests/gov_platform/test_admin_rows.py renders both). Lists Django renders in
ways not covered here (editable lists, popups, ``to_field``, columns that are model properties) are rendered by
Django as before.
"""

import html

from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_list import ResultList, result_headers, result_hidden_fields, results
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    quote,
)
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

# Django admin's own label for the checkbox, translated by Django's catalogue (not marked here: the platform's
# catalogue does not repeat Django's texts).
_CHECKBOX_LABEL = "Select this object for an action - {}"
_CHECKBOX_NAME = escape(helpers.ACTION_CHECKBOX_NAME)
# What the change URL is reversed with, then replaced by each row's key: no key quotes to it
# (admin.utils.quote escapes "_" as "_5F").
_PK_MARK = "__pk__"


class QuickRowsChangeList(ChangeList):
    def url_for_result(self, result):
        template = self.__dict__.get("_change_url_parts")
        if template is None:
            url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(_PK_MARK,),
                current_app=self.model_admin.admin_site.name,
            )
            template = self._change_url_parts = url.rpartition(_PK_MARK)
        head, _mark, tail = template
        return f"{head}{quote(getattr(result, self.pk_attname))}{tail}"

    def get_results(self, request):
        # The page's rows read only what their columns show (``QuickRowsMixin.list_row_queryset``); the count
        # and everything else keep the full queryset.
        full = self.queryset
        self.queryset = self.model_admin.list_row_queryset(full)
        try:
            super().get_results(request)
        finally:
            self.queryset = full

    def quick_rows(self):
        """The rows for change_list_results.html: per row, its cells (safe HTML) joined into one item, which
        the template's loop over a row's items writes out as it would the cells one by one."""
        plan = RowPlan.of(self)
        if plan is None:
            return list(results(self))
        return [ResultList(None, [SafeString("".join(plan.cells(row)))]) for row in self.result_list]


def _escape(text):
    """conditional_escape, a plain string escaped as django.utils.html.escape does, without its lazy wrapper."""
    return html.escape(text) if type(text) is str else conditional_escape(text)


class _Column:
    """One column of the list, worked out once: what it reads and how its cell is wrapped."""

    __slots__ = (
        "name",
        "field",
        "attr",
        "choices",
        "plain_text",
        "empty",
        "boolean",
        "classes",
        "link",
        "tag",
        "nowrap_dates",
    )

    def cell(self, row, plan):
        empty = self.empty
        try:
            value = self.attr(row) if self.field is None else getattr(row, self.name)
        except ObjectDoesNotExist:
            text, classes = empty, self.classes
        else:
            if isinstance(value, str) and value.strip() == "":
                value = ""
            classes = self.classes
            if self.field is None:
                text = display_for_value(value, empty, self.boolean)
                if self.nowrap_dates and isinstance(value, plan.date_types):
                    classes = plan.nowrap(classes)
            elif isinstance(self.field.remote_field, models.ManyToOneRel):
                text = empty if value is None else value
            elif self.choices is not None:
                text = self.choices.get(value, empty)
            elif self.plain_text:
                # display_for_field's way for a CharField or TextField without choices.
                text = empty if value in self.field.empty_values else str(value)
            else:
                text = display_for_field(value, self.field, empty, avoid_link=self.link)
        if self.link:
            url = plan.change_url(row)
            if url is not None:
                text = f'<a href="{url}">{_escape(text)}</a>'
                return SafeString(f"<{self.tag}{classes}>{text}</{self.tag}>")
            return SafeString(f"<{self.tag}{classes}>{_escape(text)}</{self.tag}>")
        return SafeString(f"<td{classes}>{_escape(text)}</td>")


class RowPlan:
    """The columns of one page of one changelist."""

    import datetime as _datetime

    date_types = (_datetime.date, _datetime.time)

    def __init__(self, cl, columns):
        self.cl, self.columns = cl, columns
        self._url_parts = None

    @classmethod
    def of(cls, cl):
        if cl.formset or cl.is_popup or cl.to_field or cl.list_display_links is None:
            return None
        admin, opts = cl.model_admin, cl.lookup_opts
        columns, first = [], True
        for name in cl.list_display:
            column = _Column()
            column.name = name
            column.empty = admin.get_empty_value_display()
            classes = [f"field-{name}"] if isinstance(name, str) else None
            if classes is None:
                return None  # a callable in list_display: Django's way
            try:
                field = _get_non_gfk_field(opts, name)
            except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
                if not (hasattr(admin, name) and name != "__str__"):
                    return None  # a model property or method: Django's way
                column.field, column.attr, column.choices, column.plain_text = None, getattr(admin, name), None, False
                column.empty = getattr(column.attr, "empty_value_display", column.empty)
                column.boolean = getattr(column.attr, "boolean", False)
                column.nowrap_dates = True
                if name == "action_checkbox":
                    classes = ["action-checkbox"]
            else:
                if field.auto_created:
                    return None
                column.field, column.attr, column.boolean, column.nowrap_dates = field, None, False, False
                flat = getattr(field, "flatchoices", None)
                try:
                    # The labels translated and escaped once per page, not once per cell.
                    column.choices = {k: conditional_escape(v) for k, v in dict(flat).items()} if flat else None
                except TypeError:
                    return None  # list-like choices: Django's way
                column.plain_text = type(field) in (models.CharField, models.TextField)
                if isinstance(field, models.DateField | models.TimeField | models.ForeignKey):
                    classes.append("nowrap")
            column.classes = format_html(' class="{}"', " ".join(classes))
            if not cl.list_display_links:
                column.link = first
            else:
                column.link = name in cl.list_display_links
            if column.link:
                column.tag = "th" if first else "td"
                first = False
            columns.append(column)
        return cls(cl, columns)

    def cells(self, row):
        return [column.cell(row, self) for column in self.columns]

    @staticmethod
    def nowrap(classes):
        return SafeString(f'{classes[:-1]} nowrap"')

    def change_url(self, row):
        """The row's change URL with the list's filters, escaped for the attribute, as Django builds it; None
        when there is none (Django then shows the text without a link)."""
        cl = self.cl
        if self._url_parts is None:
            self._url_parts = self._url_template(row)
        pk = getattr(row, cl.pk_attname)
        if self._url_parts and type(pk) is int:
            head, tail = self._url_parts
            return f"{head}{pk}{tail}"
        try:
            return conditional_escape(self._preserved(cl.url_for_result(row)))
        except NoReverseMatch:
            return None

    def _url_template(self, row):
        """The escaped change URL with the filters added once, split at the key: (head, tail), or False."""
        cl = self.cl
        try:
            url = cl.url_for_result(row)
        except NoReverseMatch:
            return False
        parts = cl.__dict__.get("_change_url_parts")
        if parts is None or url != f"{parts[0]}{quote(getattr(row, cl.pk_attname))}{parts[2]}":
            return False
        marked = str(conditional_escape(self._preserved(f"{parts[0]}{_PK_MARK}{parts[2]}")))
        return tuple(marked.split(_PK_MARK)) if marked.count(_PK_MARK) == 1 else False

    def _preserved(self, url):
        cl = self.cl
        return add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)


def quick_result_list(cl):
    """``admin_list.result_list`` with the rows from ``QuickRowsChangeList.quick_rows``."""
    headers = list(result_headers(cl))
    rows = cl.quick_rows() if isinstance(cl, QuickRowsChangeList) else list(results(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
    }


class QuickRowsMixin:
    """ModelAdmin part: the rows built once per column, not per cell; the checkbox and the row links without the
    template engine or the resolver. The admin's change list template uses ``{% quick_result_list cl %}``
    (gov_platform/templatetags/quick_rows.py) in its ``result_list`` block."""

    def get_changelist(self, request, **kwargs):
        return QuickRowsChangeList

    def list_row_queryset(self, queryset):
        """The queryset the page's rows are read from (the count is of ``queryset`` itself): by default itself;
        an admin narrows it to the columns it shows."""
        return queryset

    def action_checkbox(self, obj):
        # Django's format_html twice over, in one f-string: the label's translation as it is, the row's text
        # and key escaped.
        label = _(_CHECKBOX_LABEL).format(escape(str(obj)))
        return SafeString(
            f'<input type="checkbox" name="{_CHECKBOX_NAME}" value="{escape(str(obj.pk))}" class="action-select" '
            f'aria-label="{label}">'
        )
