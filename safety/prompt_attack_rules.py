"""Phrasings of prompt attacks in the eight product languages, for the embedded guard.

The classifier blurs short imperative phrases into whatever else the text says, so the unambiguous
ones are matched outright: a command to drop earlier instructions, to reveal hidden ones, a message
addressed to the AI inside fetched text, and a claim that the assistant has no filters or rules.
Each pattern needs the second-person or imperative form, so talk *about* these attacks ("what is a
'developer mode' jailbreak?", "ignore my last message") does not match. Hindi and Thai patterns do
without `\\b`: Python's word boundaries split Devanagari at its vowel signs, and Thai has no spaces.
"""

from __future__ import annotations

import re

_INJECTION = re.compile(
    "|".join(
        (
            # drop earlier instructions
            r"\b(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+|your\s+)?(previous|prior|above|earlier)\s+"
            r"(instructions|directions|prompts?|rules)",
            r"\bforget\s+(all\s+)?your\s+instructions",
            r"\bignor[ae]\s+(todas\s+)?(las\s+)?instrucciones|\bolvida\s+(todas\s+)?tus\s+instrucciones",
            r"\bignorez\s+(toutes\s+)?les\s+instructions|\boublie\s+(toutes\s+)?tes\s+instructions",
            r"\bignorier[e]?\s+(alle\s+)?(vorherigen\s+)?anweisungen|\bvergiss\s+(alle\s+)?deine\s+anweisungen",
            r"\bignora\s+(tutte\s+)?le\s+(tue\s+)?istruzioni|\bdimentica\s+(tutte\s+)?le\s+tue\s+istruzioni",
            r"\bignor[ae]\s+(todas\s+)?as\s+instruções|\besqueça\s+(todas\s+)?(as\s+)?suas\s+instruções",
            r"(पिछले|पहले\s+के)\s+(सभी\s+)?निर्देशों\s+को\s+(अनदेखा|नज़रअंदाज़)|अपने\s+निर्देश\s+भूल\s+जाओ",
            r"(เพิกเฉย|ลืม)คำสั่ง(ก่อนหน้า|ของคุณ)",
            # reveal hidden instructions
            r"\b(reveal|print|show)\s+(me\s+)?(your|the)\s+(system\s+prompt|hidden\s+instructions)",
            # a message addressed to the model, with a colon, inside text it reads
            r"\b(note|message|instructions?)\s+(to|for)\s+(the\s+)?(ai|ai\s+assistants?|assistant|language\s+models?"
            r"|llms?)\s*:",
            r"\b(nota|instrucción)\s+para\s+(el\s+asistente|la\s+ia)\s*:|\bnote\s+pour\s+l'(assistant|ia)\s*:",
            r"\bhinweis\s+(für|an)\s+(den\s+assistenten|die\s+ki)\s*:|\bnota\s+per\s+l'(assistente|ia)\s*:",
            r"\bnota\s+para\s+o\s+assistente\s*:|(सहायक|AI)\s+के\s+लिए\s+(नोट|निर्देश)\s*:|ข้อความถึง(ผู้ช่วย|AI)\s*:",
        )
    ),
    re.IGNORECASE,
)

_JAILBREAK = re.compile(
    "|".join(
        (
            r"\bdo\s+anything\s+now\b|\bjailbreak(ed)?\s+mode\b|\byou\s+are\s+(now\s+)?DAN\b",
            r"\b(no|without\s+any)\s+(ethical|moral)\s+(limits|guidelines|restrictions)",
            # "you have no filters / rules"
            r"\byou\s+(now\s+)?have\s+no\s+(more\s+)?(filters?|restrictions|rules|limits)\b",
            r"\bno\s+tienes\s+(ni\s+)?(filtros|restricciones|reglas|límites)",
            r"\btu\s+n'as\s+(plus\s+)?(aucun\w*|pas\s+de)\s+(filtres?|restrictions?|règles|limites)",
            r"\bsans\s+(aucun\s+)?filtres?\b.{0,40}\bne\s+refuses\b",
            r"\b(du\s+)?hast\s+(ab\s+jetzt\s+|jetzt\s+)?keine\s+(filter|regeln|einschränkungen|grenzen)\b",
            r"\bnon\s+hai\s+(più\s+)?(filtri|restrizioni|regole|limiti)\b",
            r"\bnão\s+tem\s+(mais\s+)?(filtros|restrições|regras|limites)\b",
            r"(तुम्हारे|तुम\s+पर|तुम्हारे\s+ऊपर)\s+कोई\s+(फ़िल्टर|फिल्टर|पाबंदी|नियम)\s+नहीं",
            r"ไม่มีตัวกรอง",
        )
    ),
    re.IGNORECASE,
)

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (("injection", _INJECTION), ("jailbreak", _JAILBREAK))


def attacks_named(text: str) -> tuple[str, ...]:
    """The prompt-attack categories whose phrasing occurs in `text`."""
    return tuple(category for category, pattern in RULES if pattern.search(text))
