"""The Simplified Chinese catalogue is complete: makemessages over the source leaves no fuzzy or empty entry,
and no entry of ours gives one of Django's own msgids another meaning."""

import os
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# What makemessages reads: the apps and templates, not the tests, the venv or the data.
SOURCES = ["accounts", "cases", "demo", "gov_platform", "grids", "metrics", "outbox", "templates"]


def _xgettext_or_skip():
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("xgettext/msgmerge (gettext) is not installed")
        pytest.skip("xgettext/msgmerge (gettext) is not installed")


def regenerated_catalogue(tmp_path) -> polib.POFile:
    """makemessages into a copy: the sources are symlinked into a directory without the real locale
    dir, so makemessages cannot write to the catalogue other people are editing."""
    tree = tmp_path / "src"
    tree.mkdir()
    for name in SOURCES:
        (tree / name).symlink_to(ROOT / name)
    locale = tmp_path / "src" / "locale"
    shutil.copytree(ROOT / "locale", locale)
    cwd = os.getcwd()
    try:
        os.chdir(tree)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(settings, "LOCALE_PATHS", [str(locale)])
            call_command("makemessages", locale=["zh_Hans"], symlinks=True, no_obsolete=True, verbosity=0)
    finally:
        os.chdir(cwd)
    return polib.pofile(str(locale / "zh_Hans" / "LC_MESSAGES" / "django.po"))


def test_makemessages_leaves_no_fuzzy_or_empty_entry(tmp_path):
    _xgettext_or_skip()
    before = CATALOGUE.read_bytes()
    po = regenerated_catalogue(tmp_path)
    assert CATALOGUE.read_bytes() == before, "makemessages must not touch the real catalogue"
    missing = [
        f"{e.msgctxt or ''}|{e.msgid} ({', '.join(f for f, _ in e.occurrences[:2])})"
        for e in po
        if not e.obsolete and ("fuzzy" in e.flags or not e.translated())
    ]
    assert not missing, "untranslated or fuzzy:\n" + "\n".join(missing)


def test_no_entry_gives_a_django_msgid_another_meaning():
    django_root = Path(__import__("django").__file__).parent
    theirs = {}
    for path in django_root.glob("**/locale/zh_Hans/LC_MESSAGES/django.po"):
        for e in polib.pofile(str(path)):
            if e.msgstr:
                theirs.setdefault((e.msgctxt, e.msgid), e.msgstr)
    # Same meaning, our own wording: spacing or a longer word for the same thing.
    same_meaning = {"IP address", "month"}
    clashes = [
        f"{e.msgid}: ours {e.msgstr}, Django's {theirs[(e.msgctxt, e.msgid)]}"
        for e in polib.pofile(str(CATALOGUE))
        if (e.msgctxt, e.msgid) in theirs
        and e.msgstr
        and e.msgstr != theirs[(e.msgctxt, e.msgid)]
        and e.msgid not in same_meaning
    ]
    assert not clashes, clashes


def test_the_catalogue_compiles():
    if shutil.which("msgfmt") is None:
        pytest.skip("msgfmt is not installed")
    subprocess.run(["msgfmt", "--check", "-o", os.devnull, str(CATALOGUE)], check=True)
