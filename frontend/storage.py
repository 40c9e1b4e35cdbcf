"""How the web UI's static files are named and stored.

`manage.py collectstatic` (the Docker image, production) writes each file under a name with its
content hash, rewrites the names the files use for one another (CSS url(), the ES modules'
`import … from "./x.js"`, so a changed module changes every name that leads to it), and puts a
gzip (and, with the brotli package, a brotli) copy beside each. WhiteNoise serves those names
compressed and cached for a year as immutable. Until collectstatic has run (a fresh checkout,
`make run`, the tests) there is no manifest: files keep their own names and WhiteNoise serves
them from the apps (WHITENOISE_USE_FINDERS in config/settings.py).
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedCompressedStaticFiles(CompressedManifestStaticFilesStorage):
    # The pages are native ES modules without a bundler: their imports must name hashed files too.
    # Django finds re-exports by pattern, from the word "export" to the next `from "./x.js";`: a
    # comment above a module's imports must not use that word, or an import is rewritten twice.
    support_js_module_import_aggregation = True

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:  # nothing collected yet: the file's own name
            return name
        return super().stored_name(name)
