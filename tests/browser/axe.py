"""axe-core, run in the test browser on the page it shows (the vendored release: nothing is
fetched at run time).

The portal's CSP allows no inline script (script-src 'self'), and `page.add_script_tag` with a
path or content adds an inline <script>, which the page's policy refuses. The file's text is
therefore evaluated through Playwright (`page.evaluate`, the DevTools protocol's evaluation,
which no page policy governs), so the pages are tested with the very CSP they are served with.
"""

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")

_source: str | None = None


def _axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE.read_text(encoding="utf-8")
    return _source


def inject(page) -> None:
    """Make `window.axe` available on the page (once per document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The file defines `window.axe` when run as a script: run it as a function's body.
        page.evaluate(f"() => {{ {_axe_source()}\n}}")


def violations(page, impacts=SERIOUS) -> list[dict]:
    """The page's axe violations of the given impacts: [{rule, impact, help, targets}]."""
    inject(page)
    result = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                rule: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')),
            }));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]


def describe(found: list[dict]) -> str:
    """One line a violation: rule (impact): elements."""
    return "\n".join(
        f"{v['rule']} ({v['impact']}: {v['help']}): {', '.join(v['targets'][:5])}" for v in found
    )


def overflows(page) -> bool:
    """Whether the page scrolls sideways (its content wider than the window)."""
    return not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def check(page, what: str | None = None, *, accessible: bool = True) -> None:
    """The page as shown: no sideways scrolling and, where asked, no serious or critical axe
    violation (axe needs the page's scripts: without JavaScript only the width is checked)."""
    what = what or page.url
    assert not overflows(page), f"{what} scrolls sideways"
    if accessible:
        found = violations(page)
        assert not found, f"{what}:\n{describe(found)}"
