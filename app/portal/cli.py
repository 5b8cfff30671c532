"""Commands for the graduate portal: announcements, surveys and notification e-mails."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

announcements_cli = AppGroup("announcements", help="通知公告 shown to graduates.")
surveys_cli = AppGroup("surveys", help="The optional survey a cohort answers before the sheet.")
notifications_cli = AppGroup("notifications", help="Notification e-mails (email_outbox).")


def _cohort(year: int | None):
    if year is None:
        return None
    from app.cli import _cohort_or_exit

    return _cohort_or_exit(year)


@announcements_cli.command("add")
@click.option("--title", required=True, help="The title (at most 200 characters).")
@click.option("--body", default="", help="The text (line breaks are kept).")
@click.option("--cohort", "year", type=int, help="Only for this cohort (default: every cohort).")
@click.option("--pinned", is_flag=True, help="Show it above the others.")
@click.option("--by", "created_by", default="cli", show_default=True, help="Recorded as the author.")
def announcements_add(title: str, body: str, year: int | None, pinned: bool, created_by: str) -> None:
    """Publish an announcement now."""
    from app.portal.announcements import publish_announcement

    try:
        a = publish_announcement(title, body, cohort=_cohort(year), pinned=pinned, created_by=created_by)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"announcement {a.id} published for {year or 'every cohort'}{' (pinned)' if pinned else ''}")


@surveys_cli.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cohort", "year", type=int, required=True)
def surveys_load(file: str, year: int) -> None:
    """Create the cohort's survey from a JSON file (or replace its questions; answers are kept)."""
    from app.portal.surveys import check_definition, load_survey

    try:
        data = json.loads(Path(file).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        click.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(1)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        click.echo(f"error: {file} is not UTF-8 JSON: {exc}", err=True)
        sys.exit(1)
    problems = check_definition(data)
    if problems:
        for problem in problems:
            click.echo(f"{file}: {problem}", err=True)
        sys.exit(1)
    survey, created = load_survey(data, _cohort(year))
    click.echo(f"survey {survey.id} {'created' if created else 'updated'} for cohort {year}: "
               f"{len(survey.questions)} questions, {'active' if survey.active else 'inactive'}")


@surveys_cli.command("close")
@click.option("--cohort", "year", type=int, required=True)
def surveys_close(year: int) -> None:
    """Stop asking the cohort's survey (answers are kept)."""
    from app.portal.surveys import set_active

    if set_active(_cohort(year), False) is None:
        click.echo(f"error: cohort {year} has no survey", err=True)
        sys.exit(1)
    click.echo(f"survey of cohort {year} closed")


@notifications_cli.command("send")
def notifications_send() -> None:
    """Deliver pending notification e-mails (run from cron; failed ones are retried)."""
    from flask import current_app

    from app.portal.notifications import send_pending

    if not current_app.config.get("MAIL_SERVER"):
        click.echo("error: MAIL_SERVER is not configured", err=True)
        sys.exit(1)
    sent = failed = 0
    while True:
        report = send_pending()
        sent, failed = sent + report.sent, failed + report.failed
        if not report.sent:
            break
    click.echo(f"{sent} sent, {failed} failed")
    sys.exit(1 if failed else 0)
