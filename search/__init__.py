"""Web-search augmentation (providers, page fetching, passage ranking, citations).

Not built yet: the pipeline answers without search until then. See docs/architecture.md.
"""
