"""Refresh the message catalogues: extract messages.pot, update every locale, and fill the
Chinese catalogue from translation fragments in translations/pending/*.po.

Usage: .venv/bin/python scripts/update_translations.py   (prints what is still untranslated)
Fragments are plain PO files (msgid/msgstr pairs) written while a feature is developed;
they are merged and can then be deleted.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TR = ROOT / "translations"
ZH = TR / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
BIN = Path(sys.executable).parent


def main() -> int:
    subprocess.run([BIN / "pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "--sort-output", "-o", "translations/messages.pot", "."],
                   cwd=ROOT, check=True)
    subprocess.run([BIN / "pybabel", "-q", "update", "--no-fuzzy-matching", "--ignore-obsolete",
                    "-i", "translations/messages.pot", "-d", "translations"], cwd=ROOT, check=True)
    known: dict = {}
    for frag in sorted((TR / "pending").glob("*.po")):
        with frag.open("rb") as f:
            for m in read_po(f):
                if m.id and m.string:
                    known.setdefault(m.id, m.string)
    with ZH.open("rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN")
    missing = []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(s.strip() for s in strings):
            if m.id in known:
                m.string = known[m.id]
                m.flags.discard("fuzzy")
            else:
                missing.append(m.id)
    with ZH.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False)
    for mid in missing:
        print("untranslated:", mid)
    print(f"{len(missing)} untranslated")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
