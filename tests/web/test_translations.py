"""The message catalogues: complete Chinese, up to date with the code, and actually loaded."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
POT = ROOT / "translations" / "messages.pot"
# Babel parses "zh_CN" as zh_Hans_CN, and gettext looks for that directory name.
ZH_PO = ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def _read(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def _extract(tmp_path: Path) -> Path:
    from babel.messages.frontend import CommandLineInterface

    out = tmp_path / "fresh.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l",
                                "-k", "lazy_gettext", "-o", str(out), str(ROOT)])
    return out


def test_every_chinese_message_is_translated():
    catalog = _read(ZH_PO)
    missing, fuzzy = [], []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(s.strip() for s in strings):
            missing.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
    assert not missing, f"untranslated in {ZH_PO.name}: {missing}"
    assert not fuzzy, f"fuzzy (unchecked) translations: {fuzzy}"


def test_placeholders_survive_translation():
    import re

    pattern = re.compile(r"%\((\w+)\)[sd]")
    for m in _read(ZH_PO):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(pattern.findall(ids[0]))
        for s in strings:
            assert set(pattern.findall(s)) == wanted, (m.id, s)


def test_pot_is_up_to_date_with_the_code(tmp_path):
    fresh = _ids(_read(_extract(tmp_path)))
    stored = _ids(_read(POT))
    hint = ("run: .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot . "
            "&& .venv/bin/pybabel update -i translations/messages.pot -d translations")
    assert fresh - stored == set(), f"new messages missing from messages.pot; {hint}"
    assert stored - fresh == set(), f"messages.pot lists messages no longer in the code; {hint}"


def test_chinese_catalogue_covers_the_pot():
    assert _ids(_read(POT)) - _ids(_read(ZH_PO)) == set(), \
        "run: .venv/bin/pybabel update -i translations/messages.pot -d translations, then translate"


@pytest.mark.parametrize("lang,expected", [("zh_CN", "待办理"), ("en", "Pending")])
def test_the_app_loads_the_catalogue_for_each_language(app, lang, expected):
    from flask_babel import force_locale, gettext

    with app.test_request_context("/"):
        with force_locale(lang):
            assert gettext("Pending") == expected


def test_compile_translations_writes_missing_or_stale_mo_files(tmp_path):
    import os
    import shutil

    from app.core.i18n import compile_translations

    root = tmp_path / "translations"
    shutil.copytree(ZH_PO.parent.parent, root / "zh_Hans_CN", ignore=shutil.ignore_patterns("*.mo"))
    mo = root / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
    assert compile_translations(root) == [str(mo)]
    assert mo.stat().st_size > 0
    assert compile_translations(root) == []                 # fresh: nothing to do
    po = mo.with_suffix(".po")
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    assert compile_translations(root) == [str(mo)]          # the .po changed: compiled again
