"""Checks of a page as people meet it, shared by the browser tests: axe-core's serious findings and
touch targets below the phone size."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from playwright.sync_api import Page

# axe-core from npm (a dev dependency): injected into the page under test, never served by the product.
AXE = Path(settings.BASE_DIR) / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
TAP_PX = 44


def serious_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2.2 A and AA rules)."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];
            const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({ rule: v.id, impact: v.impact, where: v.nodes.map((n) => n.target.join(" ")) }));
        }"""
    )


def small_targets(page: Page, scope: str) -> list[str]:
    """Visible buttons, links, fields and selects inside `scope` smaller than TAP_PX in either direction."""
    return page.eval_on_selector_all(
        f"{scope} :is(button, a, input:not([type=hidden]), select, textarea)",
        """(els, tap) => els.filter((el) => el.checkVisibility()).flatMap((el) => {
            const box = el.getBoundingClientRect();
            const name = el.getAttribute("aria-label") || el.textContent.trim() || el.id || el.tagName;
            return box.width < tap || box.height < tap ? [`${name}: ${box.width}x${box.height}`] : [];
        })""",
        TAP_PX,
    )
