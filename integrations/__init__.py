"""Messaging apps (WhatsApp, Messenger, Instagram, Telegram) as channels of the same pipeline.

Not built yet. See docs/architecture.md.
"""
