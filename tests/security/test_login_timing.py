"""Login and the reset form leak nothing by timing: an unknown account, an account still on its
initial password and one with its own password answer in about the same time (before, the
initial-password path answered about 20x faster, listing the weakest accounts)."""
from __future__ import annotations

import statistics
import time

from tests.web.conftest import login


def _medians(client, tries: dict[str, tuple[str, dict]], rounds: int = 9) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in tries}
    for _ in range(rounds):                        # interleaved: a busy machine slows every path alike
        for name, (path, data) in tries.items():
            t0 = time.perf_counter()
            resp = client.post(path, data=data)
            times[name].append(time.perf_counter() - t0)
            assert resp.status_code == 200, (name, resp.status_code)      # every try fails
    return {name: statistics.median(v) for name, v in times.items()}


def _assert_alike(medians: dict[str, float]) -> None:
    fastest, slowest = min(medians.values()), max(medians.values())
    assert fastest > 0.5 * slowest, {k: f"{v * 1000:.1f} ms" for k, v in medians.items()}


def test_failed_logins_take_the_same_time_for_every_kind_of_account(client, make_graduate, operator, db):
    from app.auth.services import set_graduate_password

    initial = make_graduate()
    own = make_graduate()
    set_graduate_password(db.session.merge(own), "Zq7-tide-lamp")
    operator("lib-op", "library")
    assert login(client, own.student_no, "Zq7-tide-lamp").status_code == 302      # the accounts work
    client.post("/logout")
    bad = "wrong-pass-1"
    _assert_alike(_medians(client, {
        "unknown graduate": ("/login", {"kind": "graduate", "username": "X0000000", "password": bad}),
        "initial password": ("/login", {"kind": "graduate", "username": initial.student_no, "password": bad}),
        "own password": ("/login", {"kind": "graduate", "username": own.student_no, "password": bad}),
        "unknown staff": ("/login", {"kind": "staff", "username": "nobody", "password": bad}),
        "staff": ("/login", {"kind": "staff", "username": "lib-op", "password": bad}),
    }))


def test_failed_resets_take_as_long_as_a_login(client, make_graduate):
    from app.graduates.idcard import make_id_number

    g = make_graduate()
    _assert_alike(_medians(client, {
        "login": ("/login", {"kind": "graduate", "username": g.student_no, "password": "wrong-pass-1"}),
        "unknown student": ("/password/reset", {"student_no": "X0000000", "id_card": make_id_number(99)}),
        "wrong ID card": ("/password/reset", {"student_no": g.student_no, "id_card": make_id_number(98)}),
    }))
