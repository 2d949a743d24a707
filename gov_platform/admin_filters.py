"""List filters with hundreds of choices rendered without a template pass and a query string per choice.

Django's filter template renders each choice through the template engine, and each choice's link is the list's
whole query string built and encoded again (``ChangeList.get_query_string``). The case list's area filter has a
choice per street and community (~260 for the district) and its category filter one per category: about a
tenth of the page's worker time. ``QuickChoicesMixin`` builds each link from the query string worked out once
with a mark where the choice's value goes, and the choices' HTML in one join; admin/quick_filter.html is
Django's admin/filter.html with that HTML in place of its loop. The page is the same, byte for byte
(tests/cases/test_admin_rows.py).
"""

import html
import re
from urllib.parse import quote_plus

from django.contrib import admin
from django.utils.encoding import iri_to_uri
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext

# Django's filter heading (admin/filter.html), translated by Django's catalogue: not marked here, as the
# platform's catalogue does not repeat Django's texts.
_SUMMARY = " By %(filter_title)s "
# What iri_to_uri (the iriencode filter) leaves as it is.
_URI_SAFE = re.compile(r"[A-Za-z0-9_.\-~/#%\[\]=:;$&()+,!?*@']*")
# Where a choice's value goes in its query string: urlencode leaves it as it is.
_MARK = "QuickChoiceValue0"


class _QueryStrings:
    """The changelist as a filter's ``choices()`` sees it: a query string that differs from the others only in
    one parameter's value is built once per parameter, with the value put in its place."""

    def __init__(self, changelist):
        self._changelist = changelist
        self._templates = {}

    def __getattr__(self, name):
        return getattr(self._changelist, name)

    def get_query_string(self, new_params=None, remove=None):
        if not new_params or len(new_params) != 1:
            return self._changelist.get_query_string(new_params, remove)
        ((key, value),) = new_params.items()
        if isinstance(value, bool) or not isinstance(value, str | int):
            return self._changelist.get_query_string(new_params, remove)
        shape = (key, tuple(remove or ()))
        template = self._templates.get(shape)
        if template is None:
            marked = self._changelist.get_query_string({key: _MARK}, remove)
            template = self._templates[shape] = tuple(marked.split(_MARK)) if marked.count(_MARK) == 1 else ()
        if not template:
            return self._changelist.get_query_string(new_params, remove)
        # What urlencode does to one value (django.utils.http.urlencode: str() then quote_plus).
        return f"{template[0]}{quote_plus(str(value))}{template[1]}"


def _choice_html(choice) -> str:
    # Django's admin/filter.html loop body, as the template engine renders it (iriencode, then autoescape;
    # html.escape is what django.utils.html.escape does to a plain string).
    display = choice["display"]
    if not isinstance(display, str):
        display = localize(display)
    display = html.escape(display) if type(display) is str else conditional_escape(display)
    selected = ' class="selected"' if choice["selected"] else ""
    query_string = choice["query_string"]
    if not _URI_SAFE.fullmatch(query_string):  # urlencode's output is: iri_to_uri leaves it as it is
        query_string = iri_to_uri(query_string)
    return f'\n    <li{selected}>\n    <a href="{html.escape(query_string)}">{display}</a></li>\n  '


class QuickChoicesMixin:
    """For a ListFilter: its choices' links built once per parameter, their HTML joined in Python."""

    template = "admin/quick_filter.html"
    choices_html = ""

    def choices(self, changelist):
        choices = list(super().choices(_QueryStrings(changelist)))
        self.choices_html = SafeString("".join(_choice_html(choice) for choice in choices))
        return choices

    @property
    def summary_html(self):
        # As {% blocktranslate with filter_title=title %} renders it: the title escaped, the sentence not.
        return SafeString(gettext(_SUMMARY) % {"filter_title": conditional_escape(self.title)})


class QuickRelatedFieldListFilter(QuickChoicesMixin, admin.RelatedFieldListFilter):
    """A foreign key's filter (Django's), its choices rendered by ``QuickChoicesMixin``."""
