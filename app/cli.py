"""Command-line interface. Command names are a contract: tests and external scripts call them."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core.enums import GraduateType, Role
from app.extensions import db

bpmn_cli = AppGroup("bpmn", help="Validate and publish BPMN processes.")
clearance_cli = AppGroup("clearance", help="Start and check graduates' clearances.")
users_cli = AppGroup("users", help="Staff accounts.")
cohorts_cli = AppGroup("cohorts", help="Cohorts (届).")


def _cohort_or_exit(year: int):
    from app.graduates.models import Cohort

    cohort = db.session.scalar(sa.select(Cohort).where(Cohort.year == year))
    if cohort is None:
        click.echo(f"error: cohort {year} does not exist (create it: flask --app app cohorts create {year})",
                   err=True)
        sys.exit(1)
    return cohort


def _lane_names_or_catalogue() -> dict[str, str]:
    """Checkpoints from the database; the built-in catalogue if the database is not set up."""
    from app.workflow.services import lane_names

    try:
        names = lane_names()
        if names:
            return names
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
    from app.workflow.catalog import DEFAULT_CHECKPOINTS, SPECIAL_CHECKPOINTS

    out: dict[str, str] = {}
    for key, name, *_rest in DEFAULT_CHECKPOINTS:
        if key not in SPECIAL_CHECKPOINTS:
            out[name] = key
            out[key] = key
    return out


def _read(path: str) -> tuple[bytes | None, str | None]:
    try:
        p = Path(path)
        size = p.stat().st_size
        if size > current_app.config["BPMN_MAX_BYTES"]:
            return None, f"the file is larger than {current_app.config['BPMN_MAX_BYTES'] // 1024} KB"
        return p.read_bytes(), None
    except (OSError, ValueError) as exc:
        return None, f"cannot read the file: {exc.strerror if isinstance(exc, OSError) else exc}"


@bpmn_cli.command("validate")
@click.argument("files", nargs=-1, required=True)
def bpmn_validate(files: tuple[str, ...]) -> None:
    """Check BPMN files; one line per problem (FILE:LINE: ELEMENT: message)."""
    from app.workflow.validate import validate

    names = _lane_names_or_catalogue()
    bad = False
    for f in files:
        data, error = _read(f)
        if error:
            click.echo(f"{f}:0: -: {error}")
            bad = True
            continue
        result = validate(data, names, max_bytes=current_app.config["BPMN_MAX_BYTES"], filename=Path(f).name)
        for problem in result.problems:
            click.echo(problem.format(f))
        bad = bad or not result.ok
    sys.exit(1 if bad else 0)


@bpmn_cli.command("publish")
@click.argument("file")
@click.option("--cohort", "year", type=int, required=True, help="Cohort year, e.g. 2026.")
@click.option("--type", "gtype", type=click.Choice([t.value for t in GraduateType]), required=True)
@click.option("--by", "published_by", default="cli", help="Who publishes (for the record).")
def bpmn_publish(file: str, year: int, gtype: str, published_by: str) -> None:
    """Validate FILE and publish it as the next version for COHORT and TYPE."""
    from app.workflow.services import PublishRefused, publish

    data, error = _read(file)
    if error:
        click.echo(f"{file}:0: -: {error}")
        sys.exit(1)
    cohort = _cohort_or_exit(year)
    try:
        pv = publish(data, cohort, gtype, published_by, filename=Path(file).name)
    except PublishRefused as refused:
        for problem in refused.problems:
            click.echo(problem.format(file))
        sys.exit(1)
    click.echo(f"published {gtype} v{pv.version} for cohort {year} ({len(pv.items_meta)} items, sha256 {pv.sha256[:12]})")


@clearance_cli.command("start")
@click.option("--cohort", "year", type=int, required=True)
def clearance_start(year: int) -> None:
    """Start every graduate of the cohort who has no clearance yet (safe to re-run)."""
    from app.workflow.services import Actor, start_cohort

    cohort = _cohort_or_exit(year)
    with click.progressbar(length=1, label="starting clearances", file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - state["done"])
            state["done"] = done

        report = start_cohort(cohort, Actor.system("cli"), progress=progress)
    click.echo(f"started {report.started}, already started {report.already}")
    for gtype, n in report.no_process.items():
        click.echo(f"warning: {n} {gtype} graduate(s) not started: no published process "
                   f"(flask --app app bpmn publish FILE --cohort {year} --type {gtype})")
    for student_no, why in report.failed:
        click.echo(f"error: {student_no}: {why}")
    sys.exit(1 if report.failed else 0)


@clearance_cli.command("check")
@click.option("--cohort", "year", type=int, required=True)
def clearance_check(year: int) -> None:
    """Compare every projection row with the engine state."""
    from app.graduates.models import Graduate
    from app.workflow.models import Clearance
    from app.workflow.services import projection_mismatches

    cohort = _cohort_or_exit(year)
    bad = 0
    q = (sa.select(Clearance).join(Graduate).where(Graduate.cohort_id == cohort.id)
         .options(sa.orm.joinedload(Clearance.graduate), sa.orm.noload(Clearance.items)))
    for clearance in db.session.scalars(q):
        for key, proj, eng in projection_mismatches(clearance):
            bad += 1
            click.echo(f"{clearance.graduate.student_no}: {key}: projection {proj} != engine {eng}")
    click.echo(f"{bad} mismatch(es)")
    sys.exit(1 if bad else 0)


@clearance_cli.command("refresh")
@click.option("--cohort", "year", type=int, required=True)
@click.option("--chunk", type=int, default=200, show_default=True, help="graduates per transaction")
def clearance_refresh(year: int, chunk: int) -> None:
    """Bring every clearance of the cohort in line with the graduates' current attributes and the
    engine rules (re-route items whose gateways read changed attributes, rebuild states saved by an
    older release), then re-derive the projection; every changed item is audited (actor "cli")."""
    from app.graduates.models import Graduate
    from app.workflow.models import Clearance
    from app.workflow.services import Actor, apply

    cohort = _cohort_or_exit(year)
    ids = list(db.session.scalars(sa.select(Clearance.graduate_id).join(Graduate)
                                  .where(Graduate.cohort_id == cohort.id).order_by(Clearance.graduate_id)))
    failed = 0
    with click.progressbar(length=max(len(ids), 1), label="refreshing clearances", file=sys.stderr) as bar:
        for i in range(0, len(ids), chunk):
            part = ids[i:i + chunk]
            result = apply(part, None, "refresh", Actor.system("cli"), strict=False)
            failed += len(result.failed)
            bar.update(len(part))
    click.echo(f"refreshed {len(ids) - failed} clearance(s), {failed} refused")
    sys.exit(1 if failed else 0)


@clearance_cli.command("expire-waivers")
def clearance_expire_waivers() -> None:
    """Restore every 缓交 (waiver) whose end date is past; safe to re-run (desks also do it by themselves)."""
    from app.graduates.models import Graduate
    from app.workflow.services import expire_waivers

    report = expire_waivers()
    click.echo(f"restored {report.restored} restriction(s)")
    numbers = dict(db.session.execute(sa.select(Graduate.id, Graduate.student_no)
                                      .where(Graduate.id.in_([k[0] for k in report.kept]))).all())
    for graduate_id, key, why in report.kept:
        click.echo(f"kept: {numbers.get(graduate_id, graduate_id)} {key}: {why}")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--checkpoint", "checkpoints", multiple=True, help="Checkpoint key (repeatable).")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_create(username: str, role: str, checkpoints: tuple[str, ...], display_name: str, password: str) -> None:
    """Create a staff account."""
    from app.auth.services import create_user

    try:
        user = create_user(username, role, password, list(checkpoints), display_name)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created {user.username} ({user.role}{': ' + ', '.join(checkpoints) if checkpoints else ''})")


@users_cli.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Deactivate a staff account: no more logins, and its open sessions end at once."""
    from app.auth.models import User
    from app.auth.services import deactivate_user

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        click.echo(f"error: no user {username!r}", err=True)
        sys.exit(1)
    deactivate_user(user)
    click.echo(f"deactivated {user.username}; its sessions have ended")


@cohorts_cli.command("create")
@click.argument("year", type=int)
@click.option("--name", default="")
def cohorts_create(year: int, name: str) -> None:
    from app.graduates.models import Cohort

    if db.session.scalar(sa.select(Cohort.id).where(Cohort.year == year)) is not None:
        click.echo(f"cohort {year} already exists")
        return
    db.session.add(Cohort(year=year, name=name or f"{year}届"))
    db.session.commit()
    click.echo(f"created cohort {year}")


def register(app: Flask) -> None:
    from app.demo import demo_command
    from app.graduates.cli import graduates_cli
    from app.portal.cli import announcements_cli, notifications_cli, surveys_cli

    for group in (bpmn_cli, clearance_cli, users_cli, cohorts_cli, graduates_cli,
                  announcements_cli, surveys_cli, notifications_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
