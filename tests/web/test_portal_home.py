"""通知公告 (seed 002) on the graduate's sheet and on their own page; the CLI that publishes them."""
from __future__ import annotations

import re

import sqlalchemy as sa


def add(runner, *args):
    return runner.invoke(args=["announcements", "add", *args])


def banner_titles(html: str) -> list[str]:
    section = html.split('class="card mb-3 lx-announcements"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r'<span class="text-body">(.*?)</span>\s*<span', section, re.S)]


def test_cli_publishes_global_and_cohort_announcements(db, runner, cohort):
    from app.portal.models import Announcement

    result = add(runner, "--title", "关于2026届毕业生离校工作的通知", "--body", "第一段\n第二段", "--cohort", "2026",
                 "--pinned")
    assert result.exit_code == 0, result.output
    assert "published for 2026 (pinned)" in result.output
    assert add(runner, "--title", "系统维护", "--body", "今晚 22:00 停机").exit_code == 0
    rows = db.session.scalars(sa.select(Announcement).order_by(Announcement.id)).all()
    assert [(a.cohort_id, a.pinned, a.created_by) for a in rows] == [(cohort.id, True, "cli"), (None, False, "cli")]
    assert add(runner, "--title", "x", "--cohort", "1999").exit_code == 1
    result = add(runner, "--title", "   ")
    assert result.exit_code == 1 and "needs a title" in result.output


def test_sheet_banner_shows_pinned_first_then_newest(client, db, runner, cohort, graduate):
    from app.graduates.models import Cohort

    other = Cohort(year=2027, name="2027届")
    db.session.add(other)
    db.session.commit()
    assert "lx-announcements" not in client.get("/me").get_data(as_text=True)     # none yet: no empty box
    add(runner, "--title", "旧的通知")
    add(runner, "--title", "置顶：离校时间安排", "--cohort", "2026", "--pinned")
    add(runner, "--title", "2027届的通知", "--cohort", "2027")
    add(runner, "--title", "新的通知", "--body", "<b>不是标签</b>")
    html = client.get("/me").get_data(as_text=True)
    assert banner_titles(html) == ["置顶置顶：离校时间安排", "新的通知", "旧的通知"]
    assert "2027届的通知" not in html and "全部公告" not in html
    add(runner, "--title", "第四条", "--cohort", "2026")
    html = client.get("/me").get_data(as_text=True)
    assert banner_titles(html) == ["置顶置顶：离校时间安排", "第四条", "新的通知"]
    assert 'href="/announcements"' in html and "全部公告" in html
    page = client.get("/announcements").get_data(as_text=True)
    for title in ("置顶：离校时间安排", "第四条", "新的通知", "旧的通知"):
        assert title in page
    assert "2027届的通知" not in page
    assert "&lt;b&gt;不是标签&lt;/b&gt;" in page and "<b>不是标签</b>" not in page   # bodies are text
    assert "面向全体毕业生" in page
    assert "Announcements" in client.get("/announcements?lang=en").get_data(as_text=True)


def test_announcements_need_a_graduate_login(client, login_staff):
    assert client.get("/announcements").status_code == 302
    login_staff("lib", "library")
    assert client.get("/announcements").status_code == 403
