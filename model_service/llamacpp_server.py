"""llama-cpp-python's OpenAI-compatible server, taking a token-id prompt on `/v1/completions`.

The embedded engine's previous server (one request at a time), kept as the baseline that
benchmarks/engine.py measures llama-server against: `python -m model_service.embedded --engine
llama-cpp-python`. The project sends every prompt as token ids (model_service/client.py).
llama.cpp's own server and vLLM accept `"prompt": [ids]`; llama-cpp-python's server declares
`prompt` as text only, although its engine (`Llama.create_completion`) completes a token list as
given, adding no BOS. This module widens that one request field before the server's routes are
built, then runs the server's own command line unchanged:
`python -m model_service.llamacpp_server --model … --port …`.
"""

from __future__ import annotations

from llama_cpp.server import types
from pydantic import Field, field_validator


class TokenPromptCompletionRequest(types.CreateCompletionRequest):
    """A completion request whose prompt may also be token ids: `[ids]` or a batch of one `[[ids]]`."""

    prompt: str | list[str] | list[list[int]] = Field(default="", description="Text, or token ids.")

    @field_validator("prompt", mode="before")
    @classmethod
    def _one_token_prompt_as_a_batch(cls, value: object) -> object:
        # The server unwraps a one-element list into the prompt it completes.
        if isinstance(value, list) and value and all(isinstance(item, int) for item in value):
            return [value]
        return value


def main() -> None:
    # Before the app module is imported: its routes read the request model when they are declared.
    types.CreateCompletionRequest = TokenPromptCompletionRequest  # type: ignore[misc]
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
