"""Trust and safety checks with no Django import: content guards (Llama Guard 3 over vLLM or a GGUF
file, or the embedded CPU stand-in) behind one `ContentGuard` interface, and Code Shield scans of
the code blocks in answers. `safety.guard.content_guard()` builds the configured guard."""
