"""Memory commands, the same in every chat (the web page and the messaging apps):

- `/memory`, or "what do you remember about me?": what is remembered, numbered;
- `/forget <n>`: forget item n of that list; `/forget all`: forget everything (`/forget` alone says how);
- "remember that …" or `/remember …`: keep a fact in the person's own words (saying it is their
  consent, so a sensitive fact is kept too), through the content guard the caller applied;
- "forget that": forget what was kept from the person's previous message;
- `/link CODE` (messaging apps): share the memory of the web account that issued the code
  (knowledge/linking.py).

The phrases are recognised in every language of the UI (settings.LANGUAGES), whatever the account's
language, and answered in the language they were said in; slash commands are answered in the
account's. Recognised in one place (`memory_command`), as `/imagine` is (imagine/commands.py); the
turn pipeline answers them without the model (assistant/engine/pipeline.py). Telegram may append the
bot's name to a command: `/memory@name_bot`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _

from core.errors import AssistantError
from knowledge import linking, memory
from knowledge.memory import MAX_FACT_CHARS, ExchangeMemory, Fact, Outcome, Source

MEMORY_COMMAND = "/memory"
FORGET_COMMAND = "/forget"
REMEMBER_COMMAND = "/remember"
LINK_COMMAND = "/link"
WEB_CHANNEL = "web"
_END = r"\s*[.!。।]*"  # what may close a short phrase
_QUESTION_END = r"\s*[?？.!।]*"
# A fact is what follows the opening words; not a question ("Remember that film we saw?"): that asks
# the model, it keeps nothing.
_FACT = r"(?P<fact>.*[^?？¿\s])\s*"


@dataclass(frozen=True)
class _Phrases:
    """How one language says the memory commands, as whole messages: "remember that <fact>",
    "forget that", and "what do you remember about me?"."""

    remember: re.Pattern[str]
    forget: re.Pattern[str]
    recall: re.Pattern[str]


def _phrases(remember: str, forget: str, recall: str) -> _Phrases:
    flags = re.IGNORECASE | re.DOTALL
    return _Phrases(
        re.compile(remember + _FACT, flags), re.compile(forget + _END, flags), re.compile(recall + _QUESTION_END, flags)
    )


_APOSTROPHE = "['’]"
# Keyed by the codes of settings.LANGUAGES (tests/knowledge/test_commands.py checks they match).
PHRASES: dict[str, _Phrases] = {
    "en": _phrases(
        r"(?:please,?\s+)?(?:remember|don't\s+forget|do\s+not\s+forget)\s+that\s+",
        r"(?:please,?\s+)?forget\s+(?:that|this|it)(?:,?\s+please)?",
        r"what\s+do\s+you\s+(?:remember(?:\s+about\s+me)?|know\s+about\s+me)",
    ),
    "de": _phrases(
        r"(?:bitte\s+)?(?:merke?\s+dir|denke?\s+daran|vergiss\s+nicht)\s*,?\s*dass\s+",
        r"(?:bitte\s+)?vergiss\s+(?:das|es|dies)(?:\s+wieder)?(?:,?\s+bitte)?",
        r"(?:was\s+wei(?:ß|ss)t\s+du\s+(?:alles\s+)?über\s+mich|woran\s+erinnerst\s+du\s+dich(?:\s+über\s+mich)?)",
    ),
    "fr": _phrases(
        rf"(?:s{_APOSTROPHE}il\s+te\s+pla[iî]t,?\s+)?(?:souviens[-\s]toi|souvenez[-\s]vous|rappelle[-\s]toi|"
        rf"rappelez[-\s]vous|retiens|retenez|n{_APOSTROPHE}oublie\s+pas|n{_APOSTROPHE}oubliez\s+pas)\s+"
        rf"(?:qu{_APOSTROPHE}\s*|que\s+)",
        rf"(?:oublie|oubliez)[-\s](?:ça|cela|le|la)(?:,?\s+s{_APOSTROPHE}il\s+(?:te|vous)\s+pla[iî]t)?",
        r"(?:que\s+sais[-\s]tu\s+(?:de|sur)\s+moi|de\s+quoi\s+te\s+souviens[-\s]tu(?:\s+sur\s+moi)?)",
    ),
    "it": _phrases(
        r"(?:per\s+favore,?\s+)?(?:ricorda(?:ti)?|tieni\s+a\s+mente|non\s+dimenticare)\s+che\s+",
        r"(?:per\s+favore,?\s+)?(?:dimentica(?:lo|la)|dimentica\s+(?:questo|quello|ciò))(?:,?\s+per\s+favore)?",
        r"(?:che\s+)?cosa\s+(?:ricordi|sai)\s+di\s+me",
    ),
    "pt": _phrases(
        r"(?:por\s+favor,?\s+)?(?:lembre[-\s]se|lembra[-\s]te|lembre|lembra|não\s+esqueça)\s+(?:de\s+)?que\s+",
        r"(?:por\s+favor,?\s+)?(?:esqueça|esquece)(?:\s+(?:isso|isto)|-o)(?:,?\s+por\s+favor)?",
        r"o\s+que\s+(?:você\s+)?(?:se\s+)?(?:lembra|sabe|te\s+lembras|sabes)\s+(?:de|sobre)\s+mim",
    ),
    "hi": _phrases(
        r"(?:कृपया\s+)?याद\s+(?:रखो|रखना|रखें|रखिए|रखिये)\s+कि\s+",
        r"(?:कृपया\s+)?(?:इसे|उसे|यह|वह|ये|वो)\s+भूल\s+(?:जाओ|जाना|जाएँ|जाएं|जाइए|जाइये)",
        r"(?:तुम्हें|आपको|तुमको)\s+मेरे\s+बारे\s+में\s+क्या\s+(?:याद|पता)\s+है",
    ),
    "es": _phrases(
        r"(?:por\s+favor,?\s+)?(?:recuerda|acuérdate\s+de|ten\s+en\s+cuenta|no\s+olvides)\s+que\s+",
        r"(?:por\s+favor,?\s+)?(?:olvida\s+(?:eso|esto)|olvídalo)(?:,?\s+por\s+favor)?",
        r"¿?\s*qu[eé]\s+(?:recuerdas|sabes)\s+(?:de|sobre)\s+m[ií]",
    ),
    # Thai writes no spaces between words; polite particles (ครับ, ค่ะ…) may close a sentence.
    "th": _phrases(
        r"(?:ช่วย)?จำไว้(?:ด้วย)?ว่า\s*",
        r"(?:ช่วย)?ลืม(?:เรื่อง|สิ่ง)?(?:นั้น|นี้|มัน)(?:ไปเลย|ไป|ซะ|เสีย)?(?:นะ)?(?:ครับ|ค่ะ|คะ)?",
        r"(?:คุณ)?จำอะไรเกี่ยวกับ(?:ฉัน|ผม)ได้(?:บ้าง)?(?:ครับ|คะ|ค่ะ)?",
    ),
}


class CommandKind(StrEnum):
    LIST = "list"
    FORGET_ALL = "forget_all"
    FORGET_NUMBER = "forget_number"
    FORGET_USAGE = "forget_usage"  # `/forget` alone, or with anything but a number or `all`
    FORGET_PREVIOUS = "forget_previous"  # "forget that"
    REMEMBER = "remember"  # "remember that …", `/remember …`
    REMEMBER_USAGE = "remember_usage"  # `/remember` alone
    LINK = "link"  # `/link CODE`


@dataclass(frozen=True)
class MemoryCommand:
    kind: CommandKind
    number: int = 0  # FORGET_NUMBER: the item's number in `/memory`'s list
    fact: str = ""  # REMEMBER: the person's words
    code: str = ""  # LINK: the code as sent ("" when none was)
    language: str = ""  # a phrase's language, which the reply speaks ("" for a slash command: the account's)


def memory_command(text: str) -> MemoryCommand | None:
    """The command a message is, or None for any other text."""
    stripped = text.strip()
    words = stripped.split(maxsplit=1)
    if not words:
        return None
    argument = words[1].strip().lower() if len(words) > 1 else ""
    if _is_command(words[0], MEMORY_COMMAND) and not argument:
        return MemoryCommand(CommandKind.LIST)
    if _is_command(words[0], FORGET_COMMAND):
        return _forget(argument)
    if _is_command(words[0], LINK_COMMAND):
        return MemoryCommand(CommandKind.LINK, code=argument)
    if _is_command(words[0], REMEMBER_COMMAND):
        fact = words[1].strip() if len(words) > 1 else ""
        return MemoryCommand(CommandKind.REMEMBER, fact=fact) if fact else MemoryCommand(CommandKind.REMEMBER_USAGE)
    return _phrase(stripped)


def _phrase(text: str) -> MemoryCommand | None:
    for language, phrases in PHRASES.items():
        if phrases.forget.fullmatch(text):
            return MemoryCommand(CommandKind.FORGET_PREVIOUS, language=language)
        if phrases.recall.fullmatch(text):
            return MemoryCommand(CommandKind.LIST, language=language)
        if found := phrases.remember.fullmatch(text):
            return MemoryCommand(CommandKind.REMEMBER, fact=found["fact"], language=language)
    return None


def _is_command(word: str, command: str) -> bool:
    word = word.lower()
    return word == command or word.startswith(command + "@")


def _forget(argument: str) -> MemoryCommand:
    if argument == "all":
        return MemoryCommand(CommandKind.FORGET_ALL)
    if argument.isdecimal() and len(argument) <= 6:
        return MemoryCommand(CommandKind.FORGET_NUMBER, number=int(argument))
    return MemoryCommand(CommandKind.FORGET_USAGE)


def memory_off_reply() -> str:
    return _("Memory is off, so I neither use nor keep facts about you. You can turn it on in Settings.")


def temporary_chat_reply() -> str:
    return _("This is a temporary chat: memory is neither used nor changed here.")


def run_command(
    command: MemoryCommand, *, owner_id: int, sender_id: int, source: Source, previous_message_id: int | None
) -> str:
    """Carry out `command` on the memory of `owner_id` (the sender's own, or the web account the
    sender is linked to); the reply to show, in the active language. A fact to keep has passed the
    content guard already (the caller checks the message as it checks any question)."""
    if command.kind is CommandKind.LINK:
        return _link(command.code, sender_id, source.channel)
    if command.kind is CommandKind.LIST:
        return _list(owner_id)
    if command.kind is CommandKind.FORGET_ALL:
        memory.clear_memory(owner_id=owner_id)
        return _("Done: I forgot everything I remembered about you.")
    if command.kind is CommandKind.FORGET_NUMBER:
        return _forget_number(owner_id, command.number)
    if command.kind is CommandKind.FORGET_PREVIOUS:
        return _forget_previous(owner_id, previous_message_id)
    if command.kind is CommandKind.REMEMBER:
        return _remember(owner_id, command.fact, source)
    if command.kind is CommandKind.REMEMBER_USAGE:
        return _("Send /remember followed by what I should remember.")
    return _forget_how()


def _forget_how() -> str:
    return _("Send /forget followed by a number from /memory's list to forget one fact, or /forget all.")


def _list(owner_id: int) -> str:
    items = list(memory.memory_list(owner_id=owner_id).values_list("text", flat=True))
    if not items:
        return _("I don't remember anything about you yet.")
    listed = "\n".join(f"{number}. {text}" for number, text in enumerate(items, start=1))
    off = "" if memory.is_enabled(owner_id=owner_id) else "\n\n" + memory_off_reply()
    heading = _("This is what I remember about you:")
    return f"{heading}\n{listed}\n\n{_forget_how()}{off}"


def _forget_number(owner_id: int, number: int) -> str:
    items = list(memory.memory_list(owner_id=owner_id)[: number or 1])
    if not 1 <= number <= len(items):
        return _("There is no fact number %(number)d. Send /memory to see the list.") % {"number": number}
    forgotten = items[number - 1]
    forgotten.delete()
    return _("Forgotten: %(fact)s") % {"fact": forgotten.text}


def _forget_previous(owner_id: int, previous_message_id: int | None) -> str:
    kept = memory.memory_list(owner_id=owner_id).filter(source_message_id=previous_message_id)
    texts = list(kept.values_list("text", flat=True)) if previous_message_id is not None else []
    if not texts:
        return _("I kept nothing from your previous message, so there is nothing to forget.")
    kept.delete()
    return _("Forgotten: %(fact)s") % {"fact": " ".join(texts)}


def _remember(owner_id: int, words: str, source: Source) -> str:
    if len(words) > MAX_FACT_CHARS:
        return _("That is too long to remember: keep it under %(count)d characters.") % {"count": MAX_FACT_CHARS}
    kept = memory.remember(
        owner_id=owner_id, fact=Fact(fact=words), source=source, content_check=lambda _text: True, consented=True
    )
    if kept.outcome is Outcome.MEMORY_OFF:
        return memory_off_reply()
    if kept.outcome is Outcome.DUPLICATE:
        return _("I already remember that.")
    return _("I'll remember that: %(fact)s") % {"fact": kept.fact.fact}


def _link(code: str, sender_id: int, channel: str) -> str:
    if not code or channel == WEB_CHANNEL:
        return _("Send /link followed by the code from Settings → Memory on the web, in the messaging chat to link.")
    try:
        linking.redeem_code(code=code, member_id=sender_id)
    except AssistantError:
        return _("That code is not valid or has expired. Get a new one in Settings → Memory on the web.")
    return _("Linked: this chat now uses the memory of your web account.")


def exchange_note(news: ExchangeMemory | None) -> str:
    """What a messaging reply ends with about its exchange, in the active language: the facts memory
    kept, and a question for each sensitive fact it noticed but keeps only when asked to ("" for none)."""
    if news is None:
        return ""
    notes = []
    if news.kept:
        facts = " ".join(item.text for item in news.kept)
        notes.append(_("Memory updated: %(facts)s /memory to see, /forget to remove.") % {"facts": facts})
    for ask in news.ask:
        fact = ask.text.rstrip(".")
        notes.append(_("I can remember “%(fact)s” — reply /remember %(fact)s to keep it.") % {"fact": fact})
    return "".join("\n\n" + note for note in notes)
