"""Template helpers for language and status labels."""
from __future__ import annotations

from flask import Flask, g
from flask_babel import get_locale, get_translations, lazy_gettext as _l

STATUS_LABELS = {
    "blocked": _l("Waiting for a precondition"),
    "pending": _l("Pending"),
    "rejected": _l("Not passed"),
    "passed": _l("Passed"),
    "waived": _l("Waived (deferred)"),
    "not_required": _l("Not required"),
    "in_progress": _l("In progress"),
    "eligible": _l("Ready for certificates"),
    "completed": _l("Completed"),
}
STATUS_CLASSES = {
    "blocked": "secondary", "pending": "warning", "rejected": "danger", "passed": "success",
    "waived": "info", "not_required": "light", "in_progress": "warning", "eligible": "primary",
    "completed": "success",
}
GTYPE_LABELS = {
    "undergraduate": _l("Undergraduate"),
    "postgraduate_dual": _l("Postgraduate (dual certificate)"),
    "postgraduate_single": _l("Postgraduate (single certificate)"),
}
SOURCE_LABELS = {
    "manual": _l("operator"), "batch": _l("batch"), "import": _l("Excel import"), "api": _l("sync"),
    "auto": _l("automatic rule"), "system": _l("system"),
}


def request_translations():
    """The request's catalogue, looked up once per request and kept on ``g``.

    Flask-Babel resolves the application, the locale and its catalogue cache on every single
    ``gettext`` call; a sheet page makes about a hundred of them.
    """
    try:
        return g.lx_translations
    except AttributeError:
        g.lx_translations = translations = get_translations()
        return translations
    except RuntimeError:               # no application context
        return get_translations()


def is_english() -> bool:
    loc = get_locale()
    return bool(loc and loc.language == "en")


def item_name(meta: dict) -> str:
    if is_english() and meta.get("name_en"):
        return meta["name_en"]
    return meta.get("name", meta.get("key", ""))


def item_doc(meta: dict) -> str:
    """An item's "what to do" text (BPMN documentation) in the page's language."""
    if is_english() and meta.get("documentation_en"):
        return meta["documentation_en"]
    return meta.get("documentation", "")


def init_app(app: Flask) -> None:
    # Jinja globals rather than a context processor: macro templates then see them when
    # imported *without* context, and Jinja caches such imports instead of re-running them.
    # Templates' _() / {% trans %}: as Flask-Babel installs them, with the per-request catalogue.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(
        status_label=lambda s: STATUS_LABELS.get(s, s),
        status_class=lambda s: STATUS_CLASSES.get(s, "secondary"),
        gtype_label=lambda s: GTYPE_LABELS.get(s, s),
        source_label=lambda s: SOURCE_LABELS.get(s, s or ""),
        item_name=item_name,
        item_doc=item_doc,
        is_english=is_english,
        current_locale=lambda: str(get_locale() or "zh_CN"),
    )


def compile_translations(root) -> list[str]:
    """Compile every ``<root>/<lang>/LC_MESSAGES/*.po`` whose ``.mo`` is missing or older than it.

    The ``.mo`` files are build products (git-ignored); the setup script compiles them, and
    calling this at start-up keeps a fresh checkout or an edited ``.po`` from silently showing
    untranslated pages. Returns the paths written. Problems are logged, never raised.
    """
    import logging
    import os
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    log = logging.getLogger(__name__)
    written: list[str] = []
    for po in sorted(Path(root).glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        try:
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with po.open("rb") as f:
                catalog = read_po(f, locale=po.parent.parent.name)
            tmp = mo.with_name(f"{mo.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                write_mo(f, catalog, use_fuzzy=False)
            tmp.replace(mo)          # atomic: several workers may start at once
            written.append(str(mo))
        except Exception:  # noqa: BLE001 - a broken catalogue must not stop the app
            log.exception("could not compile %s", po)
    return written
