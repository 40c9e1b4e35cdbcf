"""Web-search augmentation: what the pipeline calls to ground an answer.

- `service.gather` (and the Celery task `tasks.search_web`, queue `search`): search a provider,
  fetch the shared links and top results concurrently, extract, rank passages, cache.
- `providers`: the local SQLite FTS5 index (`index`, filled by `manage.py search_index`), SearXNG, Brave.
- `fetch`: the SSRF-checked fetcher with timeouts, byte cap and content checks; `extract`: trafilatura,
  after `hidden` removed what a reader never sees; `service` withholds sentences that instruct the
  assistant (`safety.injection`) and flags their source.
- `ranking`: BM25 plus all-MiniLM-L6-v2 cosine similarity.
- `decide`: the time-sensitive rule for auto mode and links in a message.
- `math` (and `tasks.solve_math`): the `wolfram_alpha` built-in, Wolfram|Alpha or sympy.
Settings are documented in `conf`.
"""
