"""`flask graduates ...` commands (import lives here)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

graduates_cli = AppGroup("graduates", help="Graduate rosters.")


@graduates_cli.command("import")
@click.argument("file")
@click.option("--cohort", "year", type=int, required=True, help="Cohort year, e.g. 2026.")
@click.option("--dry-run", is_flag=True, help="Check the file and show what would happen; write nothing.")
def graduates_import(file: str, year: int, dry_run: bool) -> None:
    """Import the graduates of a cohort from FILE (.xlsx or .csv).

    Required columns: 学号, 姓名, 身份证号, 类别 (Chinese or English headers). A student number
    already in the cohort is updated, not duplicated. If any row is bad nothing is imported: one
    line per bad row (ROW n: student number: reasons), then a summary; exit code 1.
    Keep the 学号 and 身份证号 columns formatted as text in Excel (numbers lose leading zeros/digits).
    """
    from app.cli import _cohort_or_exit
    from app.graduates.services import ERROR, NEW, UPDATE, import_roster

    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        click.echo(_("error: cannot read %(file)s: %(reason)s", file=file, reason=exc.strerror or str(exc)), err=True)
        sys.exit(1)
    cohort = _cohort_or_exit(year)
    report = import_roster(cohort, Path(file).name, data, dry_run=dry_run)

    for warning in report.warnings:
        click.echo(_("warning: %(message)s", message=warning))
    for row in report.error_rows:
        click.echo(_("ROW %(row)d: %(student_no)s: %(messages)s",
                     row=row.number, student_no=row.student_no or "-", messages="; ".join(row.messages)))
    if report.rows:
        c = report.counts
        click.echo(_("%(new)d new, %(updated)d updated, %(errors)d errors, %(blank)d blank rows skipped",
                     new=c[NEW], updated=c[UPDATE], errors=c[ERROR], blank=c["blank"]))
    for error in report.errors:
        click.echo(_("error: %(message)s", message=error), err=True)
    if not report.ok:
        click.echo(_("Nothing imported: correct the file and import it again."), err=True)
        sys.exit(1)
    if dry_run:
        click.echo(_("Dry run: nothing written."))
    else:
        click.echo(_("Imported into cohort %(year)d.", year=year))
    sys.exit(0)
