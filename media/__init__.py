"""Photos and voice notes below the channels: intake (type by content, caps, metadata stripped), OCR,
transcription and text-to-speech. Imports no Django app; the work runs on the Celery queue `media`
(docs/subsystems/media.md)."""
