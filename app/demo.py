"""`flask --app app demo`: a demo cohort with all three graduate types, operators per
checkpoint, published default processes and clearances in varied states. Idempotent."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import click
import sqlalchemy as sa

from app.extensions import db

DEMO_YEAR = 2026
DEMO_PASSWORD = "demo1234"
BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉浩宇轩然博文思雨欣怡子涵梓萱一诺晨阳嘉豪俊杰佳琪"
UG_COLLEGES = {
    "计算机科学与工程学院": ["计算机科学与技术", "软件工程"],
    "机电工程学院": ["机械设计制造及其自动化", "电气工程及其自动化"],
    "外国语学院": ["英语", "日语"],
}
PG_COLLEGES = ["资源学院", "地球科学学院", "材料与化学学院", "经济管理学院"]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def build_graduates(cohort_id: int, count: int, seed: int = DEMO_YEAR) -> list[dict]:
    """Deterministic varied graduates: 60 % undergraduate, 30 % dual, 10 % single postgraduates."""
    from app.graduates.idcard import make_id_number

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        frac = i / max(count, 1)
        gtype = "undergraduate" if frac < 0.6 else ("postgraduate_dual" if frac < 0.9 else "postgraduate_single")
        if gtype == "undergraduate":
            college = list(UG_COLLEGES)[i % len(UG_COLLEGES)]
            major = UG_COLLEGES[college][(i // 40) % 2]
            class_name = f"{major[:2]}{22}{(i // 40) % 9 + 1:02d}"
            student_no = f"0{202200000 + i}"
            building = f"{(i // 60) % 20 + 1}栋"
        else:
            college = PG_COLLEGES[i % len(PG_COLLEGES)]
            major = "研究生"
            class_name = f"研{college[:2]}2301"
            student_no = f"2023{i:06d}"
            building = f"研{(i // 60) % 5 + 1}栋"
        room = f"{(i // 6) % 10 + 1}{(i // 6) % 30 + 1:02d}"
        rows.append(dict(
            cohort_id=cohort_id, student_no=student_no, name=_name(rng),
            id_card=make_id_number(i, region=rng.choice(["430102", "420111", "360102"]),
                                   birth=f"{2000 + rng.randint(0, 4)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"),
            gtype=gtype, college=college, major=major, class_name=class_name,
            dorm_building=building, dorm_room=room, campus=rng.choice(["本部", "南校区"]),
            phone=f"13{rng.randint(100000000, 999999999)}", email="",
            advisor="" if gtype == "undergraduate" else rng.choice(["王建国", "李华", "陈晓明"]),
            has_national_loan=rng.random() < 0.12, has_origin_loan=rng.random() < 0.08,
            party_member=rng.random() < 0.3, league_member=rng.random() < 0.8,
            borrowed_instrument=rng.random() < 0.1, borrowed_switch=rng.random() < 0.05,
            library_books=rng.choice([0, 0, 0, 0, 1, 2]),
            library_fines=Decimal(rng.choice(["0", "0", "0", "0", "3.50"])),
            arrears=Decimal(rng.choice(["0"] * 9 + ["1200.00"])),
            lives_on_campus=rng.random() < 0.92, certificates_deferred=rng.random() < 0.03,
        ))
    return rows


@click.command("demo")
@click.option("--graduates", "count", type=click.IntRange(3, 50000), default=300, show_default=True,
              help="How many demo graduates.")
def demo_command(count: int) -> None:
    """Load a demo cohort (idempotent) and print the logins."""
    from app.auth.models import User
    from app.auth.services import create_user
    from app.graduates.models import Cohort, Graduate
    from app.workflow.catalog import DEFAULT_CHECKPOINTS
    from app.workflow.models import ClearanceItem
    from app.workflow.services import (
        Actor,
        BatchRefused,
        apply,
        ensure_default_checkpoints,
        publish,
        start_cohort,
    )

    ensure_default_checkpoints()
    cohort = db.session.scalar(sa.select(Cohort).where(Cohort.year == DEMO_YEAR))
    if cohort is None:
        today = date.today()
        cohort = Cohort(year=DEMO_YEAR, name=f"{DEMO_YEAR}届毕业生", opens_on=today - timedelta(days=3),
                        closes_on=today + timedelta(days=30))
        db.session.add(cohort)
        db.session.commit()
        for gtype in ("undergraduate", "postgraduate_dual", "postgraduate_single"):
            path = BPMN_DIR / f"{gtype}.bpmn"
            publish(path.read_bytes(), cohort, gtype, "demo", filename=path.name)
        db.session.execute(sa.insert(Graduate), build_graduates(cohort.id, count))
        db.session.commit()
        click.echo(f"demo: {count} graduates in cohort {DEMO_YEAR}")

        with click.progressbar(length=count, label="demo: starting clearances") as bar:
            seen = {"n": 0}

            def progress(done: int, total: int) -> None:
                bar.update(done - seen["n"])
                seen["n"] = done

            cohort_id = cohort.id
            start_cohort(cohort, Actor.system("demo"), progress=progress)
        _vary_states(cohort_id, Actor, apply, BatchRefused, ClearanceItem, Graduate)
    if db.session.scalar(sa.select(User.id).where(User.username == "admin")) is None:
        create_user("admin", "admin", DEMO_PASSWORD, display_name="系统管理员")
        create_user("leader", "leader", DEMO_PASSWORD, display_name="学工部领导")
        for key, name, *_rest in DEFAULT_CHECKPOINTS:
            create_user(key, "operator", DEMO_PASSWORD, [key], display_name=f"{name}操作员")
        create_user("college_desk", "operator", DEMO_PASSWORD, ["college", "certificates"],
                    display_name="学院离校点（兼证件发放）")
    _print_logins(db.session.scalar(sa.select(Cohort.id).where(Cohort.year == DEMO_YEAR)), Graduate)


def _vary_states(cohort_id: int, Actor, apply, BatchRefused, ClearanceItem, Graduate) -> None:  # noqa: N803
    """Move the demo cohort into varied, realistic states: some classes and dorms done."""
    rng = random.Random(7)
    actor = Actor(None, "演示操作员", "batch")
    rows = db.session.execute(
        sa.select(ClearanceItem.graduate_id, ClearanceItem.task_key, Graduate.class_name, Graduate.dorm_building,
                  Graduate.dorm_room)
        .join(Graduate, Graduate.id == ClearanceItem.graduate_id)
        .where(Graduate.cohort_id == cohort_id, ClearanceItem.status == "pending")
        .order_by(ClearanceItem.graduate_id)).all()
    groups: dict[tuple[str, str], list[int]] = {}
    for gid, key, cls, bld, room in rows:
        if key == "certificates":
            continue
        group = (key, cls) if key not in ("electricity", "dorm_checkout") else (key, f"{bld}-{room}")
        groups.setdefault(group, []).append(gid)
    for (key, _group), ids in sorted(groups.items()):
        if rng.random() < 0.55:
            chosen = [g for g in ids if rng.random() < 0.85]
            if chosen:
                try:
                    apply(chosen, key, "confirm", actor, strict=False)
                except BatchRefused:
                    pass
    # a few rejections with reasons, as operators do at the counter
    for gid, key, *_ in rows[:: max(len(rows) // 12, 1)][:12]:
        reason = {"electricity": "欠电费 35.5 元，请到水电通信中心缴清", "library": "《数据结构》未归还",
                  "dorm_checkout": "宿舍钥匙未交还"}.get(key, "材料不全，请带齐材料再来办理")
        apply([gid], key, "reject", actor, reason=reason, strict=False)


def _print_logins(cohort_id: int, Graduate) -> None:  # noqa: N803
    click.echo("")
    click.echo("Demo logins (password for every staff account: %s)" % DEMO_PASSWORD)
    click.echo("  admin          系统管理员 / administrator")
    click.echo("  leader         领导查询 / read-only statistics")
    click.echo("  library, finance, dormitory, utilities, college, student_affairs, certificates, waiver, advisor ...")
    click.echo("                 one operator per checkpoint (username = checkpoint key)")
    click.echo("  college_desk   学院离校点 + 学院证件发放 (two checkpoints, switcher)")
    click.echo("Graduates log in with their student number; the initial password is the last 6 characters")
    click.echo("of the ID-card number (they must change it at first login). For example:")
    for gtype in ("undergraduate", "postgraduate_dual", "postgraduate_single"):
        g = db.session.scalar(sa.select(Graduate).where(Graduate.cohort_id == cohort_id, Graduate.gtype == gtype,
                                                        Graduate.password_hash.is_(None)).order_by(Graduate.id))
        if g is not None:
            click.echo(f"  {g.student_no:<12} {g.name:<6} {gtype:<20} password {g.id_card[-6:]}")
