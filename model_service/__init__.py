"""Talking to and running LLMs: the streaming client, prompt formats, token counting,
context-window fitting, the embedded CPU engine and the vLLM launcher.

Nothing here imports Django: the web app, the workers and the benchmarks all use it as a library.
"""
