"""axe-core (npm package pinned in package.json, read from node_modules/, never from a CDN) run in the
page by Playwright: WCAG 2.1 A and AA rules; any violation fails the test.

The script is evaluated through the DevTools protocol, so it runs whatever the page's
Content-Security-Policy says and the application never serves it."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Documented exceptions, only for vendor widgets we cannot change: (rule id, CSS selector, reason).
EXCEPTIONS: list[tuple[str, str, str]] = [
]


@lru_cache(maxsize=1)
def _source() -> str:
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run ./dev.sh setup (npm ci installs axe-core)")
    return AXE_JS.read_text(encoding="utf-8")


def violations(page) -> list[dict]:
    """Run axe-core on the page as it is now; returns the violations left after EXCEPTIONS."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())
    result = page.evaluate(
        """async ([tags, exclude]) => {
            const r = await axe.run({include: [document], exclude: exclude.map(s => [s])},
                                    {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary,
                                          html: n.html.slice(0, 200)}))}));
        }""",
        [TAGS, [sel for _rule, sel, _why in EXCEPTIONS]],
    )
    return result


def format_violations(found: list[dict]) -> str:
    lines = []
    for v in found:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']}")
        for n in v["nodes"][:8]:
            lines.append(f"    {n['target']}  {n['html']}")
            lines.append("      " + (n["summary"] or "").replace("\n", "\n      "))
    return "\n".join(lines)


def assert_accessible(page, what: str = "") -> None:
    found = violations(page)
    assert not found, f"axe-core (WCAG 2.1 A/AA) on {what or page.url}:\n" + format_violations(found)
