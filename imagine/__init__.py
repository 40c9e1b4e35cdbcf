"""Imagine: text-to-image while typing, final renders and animations, with diffusers.

It imports no assistant code (the import contracts in pyproject.toml); the chat reaches it through
assistant/engine/renders.py. See docs/architecture.md and, for its wire contract, docs/protocol.md.
"""
