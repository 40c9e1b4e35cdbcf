"""Removing what a reader of a page never sees, before its main text is extracted.

A page can hide text from people and still hand it to a program that reads its markup: prompt
injection aimed at assistants hides that way. Removed here: comments, scripts, styles, `<template>`,
`<noscript>` (a browser that runs scripts, as readers' do, never shows it), elements with the
`hidden` attribute or `aria-hidden="true"`, and elements hidden by CSS, inline or by a simple rule
of the page's own `<style>` sheets (a class, id or tag selector, or several of them joined, outside
`@media` and other at-rules): `display: none`, `visibility: hidden`, `opacity: 0`, `font-size: 0`,
`transform: scale(0)`, a zero width or height with `overflow: hidden`, a clip to nothing, or a
position far off screen. External style sheets are not fetched, so a rule there is not seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree, html

ALWAYS_HIDDEN_TAGS = ("script", "style", "template", "noscript")
OFF_SCREEN_PX = 500  # further off screen than any layout places visible text

_DECLARATION = re.compile(r"([\w-]+)\s*:\s*([^;]+)")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMPOUND = re.compile(r"^([a-z][a-z0-9-]*)?((?:[.#][\w-]+)*)$", re.IGNORECASE)
_ZERO = re.compile(r"^-?0*\.?0*(px|em|rem|%|pt|vh|vw)?$")
_NEGATIVE_LENGTH = re.compile(r"^-(\d+(?:\.\d+)?)(px|em|rem|pt|%|vw|vh)?$")
_EM_PX = 16  # one em in CSS pixels, by default
_ZERO_SIZE_PROPERTIES = ("width", "height", "max-width", "max-height")
_OFFSET_PROPERTIES = ("left", "top", "right", "bottom", "text-indent", "margin-left", "margin-top")


def _declarations(style: str) -> dict[str, str]:
    """Property → value, lower-cased, `!important` dropped; the last one of a property wins."""
    pairs = _DECLARATION.findall(_CSS_COMMENT.sub("", style).lower())
    return {name: value.replace("!important", "").strip() for name, value in pairs}


def _is_zero(value: str) -> bool:
    return bool(_ZERO.match(value))


def _far_off_screen(value: str) -> bool:
    match = _NEGATIVE_LENGTH.match(value)
    if not match:
        return False
    amount, unit = float(match.group(1)), match.group(2) or "px"
    if unit in ("%", "vw", "vh"):
        return amount >= 100
    return amount * (_EM_PX if unit in ("em", "rem") else 1) >= OFF_SCREEN_PX


def hides(style: str) -> bool:
    """Whether declarations like `style` keep an element's text from being seen."""
    found = _declarations(style)
    if found.get("display") == "none" or found.get("visibility") in ("hidden", "collapse"):
        return True
    if any(_is_zero(found.get(name, "1")) for name in ("opacity", "font-size")):
        return True
    if re.fullmatch(r"scale[xy]?\(\s*0\s*\)", found.get("transform", "")):
        return True
    clipped = found.get("overflow") in ("hidden", "clip")
    if clipped and any(_is_zero(found.get(name, "auto")) for name in _ZERO_SIZE_PROPERTIES):
        return True
    if re.fullmatch(r"rect\(\s*0(px)?[\s,]+0(px)?[\s,]+0(px)?[\s,]+0(px)?\s*\)", found.get("clip", "")):
        return True
    return any(_far_off_screen(found.get(name, "")) for name in _OFFSET_PROPERTIES)


def _matcher(selector: str) -> Callable[[html.HtmlElement], bool] | None:
    """A test for one compound selector (`p`, `.a`, `#b`, `div.a.b`); None for anything richer."""
    selector = selector.strip()
    match = _COMPOUND.match(selector)
    if not selector or not match:
        return None
    tag = (match.group(1) or "").lower()
    parts = re.findall(r"([.#])([\w-]+)", match.group(2))
    classes = {name for kind, name in parts if kind == "."}
    ids = {name for kind, name in parts if kind == "#"}

    def matches(element: html.HtmlElement) -> bool:
        return (
            (not tag or element.tag == tag)
            and classes <= set((element.get("class") or "").split())
            and all(element.get("id") == wanted for wanted in ids)
        )

    return matches


def _without_at_blocks(sheet: str) -> str:
    """The sheet's rules outside every at-rule block (`@media … { … }` with its nested rules)."""
    kept: list[str] = []
    depth, start, rule_start, skipping = 0, 0, 0, False
    for index, char in enumerate(sheet):
        if char == "{":
            if depth == 0:
                prelude = sheet[start:index].rsplit(";", 1)[-1]  # after any `@import …;` statement
                skipping, rule_start = prelude.lstrip().startswith("@"), index - len(prelude)
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                if not skipping:
                    kept.append(sheet[rule_start : index + 1])
                start = index + 1
    return "\n".join(kept)


def _hiding_selectors(document: html.HtmlElement) -> list[Callable[[html.HtmlElement], bool]]:
    """Tests for the elements that the page's own `<style>` rules hide (simple selectors only)."""
    matchers = []
    for sheet in document.iter("style"):
        rules = _RULE.findall(_without_at_blocks(_CSS_COMMENT.sub("", sheet.text or "")))
        for selectors, declarations in rules:
            if hides(declarations):
                matchers.extend(m for s in selectors.split(",") if (m := _matcher(s)))
    return matchers


def _is_hidden(element: html.HtmlElement, sheet_rules: list[Callable[[html.HtmlElement], bool]]) -> bool:
    if element.tag in ALWAYS_HIDDEN_TAGS or element.get("hidden") is not None:
        return True
    if (element.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return hides(element.get("style") or "") or any(rule(element) for rule in sheet_rules)


def drop_hidden(document: html.HtmlElement) -> html.HtmlElement:
    """`document` (changed in place) without comments and the elements a reader never sees; the
    text that follows a dropped element stays."""
    sheet_rules = _hiding_selectors(document)
    doomed = [
        node
        for node in document.iter()
        if not isinstance(node.tag, str) or _is_hidden(node, sheet_rules)  # comments, processing instructions
    ]
    for node in doomed:
        if node.getparent() is not None:
            node.drop_tree()
    return document


def parse(markup: str) -> html.HtmlElement | None:
    """The page as an lxml document; None when it holds no markup at all."""
    parser = html.HTMLParser(encoding="utf-8")
    try:
        return html.document_fromstring(markup.encode("utf-8"), parser=parser)
    except etree.ParserError:
        return None
