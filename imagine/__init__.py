"""Imagine: text-to-image while typing, final renders and animations, with diffusers.

Not built yet. See docs/architecture.md.
"""
