"""WCAG 2.x contrast of two CSS colours as the browser reports them (`rgb(…)`/`rgba(…)`)."""

from __future__ import annotations

import re


def relative_luminance(css_colour: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", css_colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
