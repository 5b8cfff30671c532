"""Hostile and foreign BPMN through `bpmn validate` / `bpmn publish`: refused with element-level
reasons or accepted — never a traceback, never code run."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.workflow import sandbox


@pytest.fixture()
def runner(app, db):
    """CLI runner whose messages come out in English (the default locale is Chinese)."""
    from flask_babel import force_locale

    base = app.test_cli_runner()

    class EnglishRunner:
        def invoke(self, *args, **kwargs):
            with force_locale("en"):
                return base.invoke(*args, **kwargs)

    return EnglishRunner()


def test_cli_messages_default_to_chinese(app, db, tmp_path):
    path = tmp_path / "x.bpmn"
    path.write_text("not xml", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["bpmn", "validate", str(path)])
    assert result.exit_code == 1 and "XML" in result.output
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.output), result.output

ROOT = Path(__file__).resolve().parent.parent
UG = (ROOT / "bpmn" / "undergraduate.bpmn").read_text(encoding="utf-8")
CORPUS = sorted((ROOT.parent / "shared" / "bpmn-corpus").rglob("*.bpmn"))
CANARY = "/tmp/lixiao-canary-should-not-exist"


def variant(old: str, new: str, base: str = UG) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def run_validate(runner, tmp_path, text: str | bytes, name: str = "x.bpmn"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    result = runner.invoke(args=["bpmn", "validate", str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result, path


def test_default_processes_are_valid(runner):
    for path in (ROOT / "bpmn").glob("*.bpmn"):
        result = runner.invoke(args=["bpmn", "validate", str(path)])
        assert result.exit_code == 0, result.output
        assert result.output == ""


HOSTILE = {
    "xxe": ('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
            + UG.split("\n", 1)[1].replace("<bpmn:documentation>", "<bpmn:documentation>&xxe;", 1),
            "DOCTYPE"),
    "billion_laughs": ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                       '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                       '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
                       '<lolz>&lol3;</lolz>', "DOCTYPE"),
    "not_xml": ("this is not xml at all <<<", "not well-formed"),
    "truncated": (UG[: len(UG) // 2], "not well-formed"),
    "empty": ("", "empty"),
    "html": ("<html><body>hello</body></html>", "not a BPMN 2.0 file"),
    "eval_escape": (variant("party_member == True",
                            "().__class__.__base__.__subclasses__() == []"), "not allowed"),
    "import_call": (variant("party_member == True",
                            f"__import__('os').system('touch {CANARY}') == 0"), "not allowed"),
    "unknown_name": (variant("party_member == True", "is_vip == True"), "unknown attribute"),
    "syntax": (variant("party_member == True", "party_member === True"), "syntax error"),
    "huge_power": (variant("party_member == True", "library_books ** 999999999 > 0"), "exponent"),
    "auto_pass_call": (variant('value="arrears == 0"', f'value="open(\'{CANARY}\', \'w\') is None"'),
                       "auto-pass rule"),
    "script_task": (variant('<bpmn:userTask id="library" name="图书馆清理（图书、欠费）">',
                            '<bpmn:scriptTask id="library" name="图书馆清理（图书、欠费）" scriptFormat="python">'
                            f'<bpmn:script>open("{CANARY}", "w")</bpmn:script>')
                    .replace('</bpmn:userTask>\n    <bpmn:userTask id="student_id_card"',
                             '</bpmn:scriptTask>\n    <bpmn:userTask id="student_id_card"', 1),
                    "script"),
    "pre_script": (variant("<spiffworkflow:properties>",
                           f'<spiffworkflow:preScript>open("{CANARY}", "w")</spiffworkflow:preScript>'
                           "<spiffworkflow:properties>"), "scripts are not allowed"),
    "unnamed_lane": (variant('name="图书馆">', ">"), "lane has no name"),
    "unknown_lane": (variant('name="图书馆">', 'name="食堂">'), "not a known checkpoint"),
    "no_default": (variant(' default="f_party_letter_gw__party_letter_merge"', ""), "default flow"),
    "not_executable": (UG.replace('isExecutable="true"', 'isExecutable="false"'), "not executable"),
    "bad_batch_mode": (variant('name="batch_mode" value="individual"', 'name="batch_mode" value="everyone"'),
                       "batch_mode"),
    "dangling_flow": (variant('targetRef="party_letter_merge" />', 'targetRef="nowhere" />'), "does not exist"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_with_reasons(runner, tmp_path, case):
    text, expected = HOSTILE[case]
    result, path = run_validate(runner, tmp_path, text)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines, "a refusal names at least one problem"
    for line in lines:
        assert line.startswith(f"{path}:"), line
        file_, lineno, element, message = line.split(":", 3)
        assert lineno.isdigit()
    assert expected.lower() in result.output.lower(), result.output
    assert not Path(CANARY).exists(), "code from the file ran"


def test_problem_lines_name_the_element_and_line(runner, tmp_path):
    result, path = run_validate(runner, tmp_path, HOSTILE["unknown_lane"][0])
    line = [ln for ln in result.output.splitlines() if "食堂" in ln][0]
    _f, lineno, element, _msg = line.split(":", 3)
    assert element.strip() == "Lane_library"
    assert UG.splitlines()[int(lineno) - 1].strip().startswith('<bpmn:lane id="Lane_library"')


def test_oversized_file_is_refused(runner, tmp_path, app):
    big = UG.replace("<bpmn:documentation>", "<bpmn:documentation>" + "x" * (app.config["BPMN_MAX_BYTES"] + 1), 1)
    result, _ = run_validate(runner, tmp_path, big)
    assert result.exit_code == 1 and "larger than" in result.output


def test_missing_file_and_directory(runner, tmp_path):
    result = runner.invoke(args=["bpmn", "validate", str(tmp_path / "nope.bpmn"), str(tmp_path)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 2
    assert "Traceback" not in result.output


@pytest.mark.skipif(not CORPUS, reason="shared/bpmn-corpus not present")
def test_foreign_corpus_never_crashes(runner):
    for path in CORPUS:
        result = runner.invoke(args=["bpmn", "validate", str(path)])
        assert result.exit_code in (0, 1), (path, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (path, result.exception)
        if result.exit_code == 1:
            assert all(ln.startswith(f"{path}:") for ln in result.output.strip().splitlines()), result.output


def test_publish_refuses_invalid_and_accepts_valid(runner, tmp_path, cohort):
    bad = tmp_path / "bad.bpmn"
    bad.write_text(HOSTILE["unknown_lane"][0], encoding="utf-8")
    result = runner.invoke(args=["bpmn", "publish", str(bad), "--cohort", "2026", "--type", "undergraduate"])
    assert result.exit_code == 1 and "食堂" in result.output
    good = ROOT / "bpmn" / "undergraduate.bpmn"
    result = runner.invoke(args=["bpmn", "publish", str(good), "--cohort", "2026", "--type", "undergraduate"])
    assert result.exit_code == 0, result.output
    assert "v1" in result.output
    changed = tmp_path / "ug2.bpmn"
    changed.write_text(variant("领取党组织关系介绍信", "领取党组织关系介绍信（新）"), encoding="utf-8")
    result = runner.invoke(args=["bpmn", "publish", str(changed), "--cohort", "2026", "--type", "undergraduate"])
    assert "v2" in result.output
    result = runner.invoke(args=["bpmn", "publish", str(good), "--cohort", "2027", "--type", "undergraduate"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_published_version_is_immutable_and_instances_stay_on_it(db, make_graduate, start, published, cohort):
    from app.workflow.models import Clearance, ProcessVersion
    from app.workflow.services import publish

    g = make_graduate()
    start(g)
    v1 = published["undergraduate"]
    v1.filename = "changed.bpmn"
    with pytest.raises(ValueError):
        db.session.commit()
    db.session.rollback()
    v2 = publish(variant("领取党组织关系介绍信", "领取党组织关系介绍信（新）").encode(), cohort, "undergraduate", "t")
    assert v2.version == 2
    clearance = db.session.query(Clearance).filter_by(graduate_id=g.id).one()
    assert clearance.process_version_id == v1.id
    assert db.session.get(ProcessVersion, v1.id).sha256 != v2.sha256


@pytest.mark.parametrize("expr", [
    "__import__('os')", "().__class__", "[x for x in (1,2)]", "lambda: 1", "arrears.real",
    "'a' * 10", "arrears[0]", "(y := 1)", "f'{arrears}'", "_secret == 1", "9 ** 99",
])
def test_sandbox_refuses(expr):
    with pytest.raises(sandbox.ExpressionError):
        sandbox.check(expr, {"arrears", "college"})


def test_sandbox_evaluates_graduate_attributes():
    attrs = {"arrears": 0.0, "college": "资源学院", "library_books": 2}
    assert sandbox.evaluate("arrears == 0 and college in ('资源学院', '珠宝学院')", attrs) is True
    assert sandbox.evaluate("library_books - 2 == 0 and not arrears > 0", attrs) is True
    with pytest.raises(sandbox.ExpressionError):
        sandbox.evaluate("'x' * 1000000000", attrs)
