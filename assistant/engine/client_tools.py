"""Client-defined tools (the `/v1` API's function tools) as Llama 3.1 custom tools.

The client runs its tools itself: the pipeline only renders them into the prompt (the offer as
Meta's user message right after the system message, past calls as Meta's custom calls, results as
`ipython` messages) and the model's answer, a call or text, goes back to the client as written.
The stored conversation keeps user and assistant messages only, so the request's messages as the
model must read them travel here, one per stored message (docs/protocol.md, `/v1`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model_service.messages import ChatMessage


@dataclass(frozen=True)
class ClientTools:
    offer: ChatMessage | None  # the tools offered to the model; None when none are (tool_choice none)
    conversation: tuple[ChatMessage, ...]  # the stored history as the model reads it, message for message

    def prompt_messages(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """`messages` (the system message, then the stored history) with the history rendered as
        Llama 3.1 calls and results, and the offer after the system message."""
        system, history = messages[0], messages[1:]
        if len(history) != len(self.conversation):
            raise ValueError(f"{len(history)} stored messages for {len(self.conversation)} client messages")
        return [system, *([self.offer] if self.offer is not None else []), *self.conversation]
