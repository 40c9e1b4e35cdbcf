"""Instructions hidden in untrusted text: web pages now, documents and memory later.

`find_injection(text)` returns an `InjectionFinding`: the sentences of `text` that try to instruct
an assistant, each with the kind of attempt. It flags; the caller decides what a flagged sentence
becomes (search withholds it from the prompt behind a visible note, see `search.service`).

The check is regular expressions over each sentence, normalised first (NFKC, case folded, zero-width
characters removed, Cyrillic and Greek look-alike letters read as Latin), in the product's eight
languages. A sentence is flagged for one strong signal (STRONG_KINDS: an order to drop earlier
instructions, a forged `SYSTEM:` message, the system prompt, private data sent or revealed, a note
addressed to AI assistants) or for two different weak ones (WEAK_KINDS: chat-template markup, words
addressed to an AI, a new role, orders about the user or the answer, user data sent to a URL, lifted
limits, secrecy): ordinary pages say "you are now ready to bake" or "tell the user" (in
documentation), and one weak signal is not enough.

It costs about 2 ms per 1,500-character source on a busy two-core machine. The embedded guard is
not consulted: there it took about 640 ms per such source and called harmless articles unsafe.
docs/subsystems/safety.md gives the measured catch and false-alarm rates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

STRONG_KINDS = ("override", "forged_message", "system_prompt", "exfiltration", "note_to_ai")
WEAK_KINDS = ("chat_markup", "addressed_to_ai", "new_role", "orders", "user_data_out", "lifted_limits", "secrecy")

_SENTENCE_END = re.compile(r"(?<=[.!?।。！？])\s+|\n+")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_LOOK_ALIKES = str.maketrans("асеіјорхуѕԁвкмнтαεικνορτυχ", "aceijopxysdbkmhtaeikvoptux")

_AI = (
    r"(?:ai|a\.i\.|llm|gpt|chatgpt|llama|chatbot|language model|(?:ai )?agent|assistant|assistente|asistente"
    r"|assistenten|assistent|ki|ia|एआई|सहायक|ผู้ช่วย|เอไอ)"
)
_ATTENTION = r"(?:dear|hey|hi|attention|achtung|atención|attenzione|atenção|ध्यान दें)"
_IGNORE = (
    r"\b(?:ignore|disregard|forget|override|bypass|ignoriere|ignorier|vergiss|missachte|ignorez|ignorer|oublie"
    r"|oubliez|ignora|ignorar|olvida|dimentica|esqueça|esqueca)\b"
)
_ALL = r"(?:all|any|your|alle|deine|ihre|toutes|tes|vos|todas|tus|sus|tutte|le tue|suas)"
_EARLIER = (
    r"(?:previous|prior|above|earlier|preceding|original|vorherigen|bisherigen|obigen|früheren|précédentes"
    r"|antérieures|anteriores|anteriori|precedenti|prévias)"
)
_INSTRUCTIONS = (
    r"(?:instructions?|directions|prompts?|programming|anweisungen|instruktionen|consignes|instrucciones"
    r"|istruzioni|instruções|instrucoes)"
)
_USER_DATA = (
    r"(?:(?:user'?s?|their|his|her)\s+(?:data|details|conversation|chat|messages|history|password|credentials"
    r"|files|emails?|address|card)|(?:conversation|chat) history|daten des (?:nutzers|benutzers)"
    r"|(?:chat|gesprächs)verlauf|données de l'utilisateur|historique de (?:la )?conversation|datos del usuario"
    r"|historial de (?:la )?conversación|dati dell'utente|cronologia della chat|dados do usuário"
    r"|histórico da conversa|उपयोगकर्ता (?:का|की|के) (?:डेटा|इतिहास|पासवर्ड)|ข้อมูลของผู้ใช้|ประวัติการสนทนา)"
)
_SEND = (
    r"(?:send|forward|e-?mail|post|upload|leak|exfiltrate|sende|schicke|leite|envoie|envoyez|transmets|envía"
    r"|envia|reenvía|invia|inoltra|envie|भेज|ส่ง)"
)
_PRIVATE = (
    r"(?:passwords?|passwörter|passwort|contraseñas?|mots? de passe|senhas?|पासवर्ड|รหัสผ่าน"
    r"|(?:conversation|chat) history|(?:user'?s?|their) (?:password|credentials|card)|(?:chat|gesprächs)verlauf"
    r"|historique de (?:la )?conversation|historial de (?:la )?conversación|cronologia della chat"
    r"|histórico da conversa|उपयोगकर्ता (?:का|की|के) (?:इतिहास|पासवर्ड)|बातचीत का इतिहास|ประวัติการสนทนา)"
)
_MAILBOX = r"(?:[\w.+-]+@[\w-]+\.|\bto (?:me|us)\b|an mich|à moi|a mí|a me\b|para mim|मुझे|ให้ฉัน)"
_DESTINATION = rf"(?:https?://|www\.|{_MAILBOX})"


def _pattern(source: str) -> re.Pattern[str]:
    """A pattern written in the same normal form as the text it reads (NFKC splits Thai ำ, for one)."""
    return re.compile(unicodedata.normalize("NFKC", source))


_SIGNALS: dict[str, tuple[re.Pattern[str], ...]] = {
    "override": (
        _pattern(rf"{_IGNORE}.{{0,30}}\b(?:{_ALL}|{_EARLIER})\b.{{0,25}}\b{_INSTRUCTIONS}\b"),
        _pattern(rf"{_IGNORE}.{{0,30}}\b{_INSTRUCTIONS}\s+{_EARLIER}\b"),
        _pattern(
            rf"{_IGNORE}.{{0,15}}(?:\buser'?s?\s+(?:question|request|message)|(?:frage|question|pregunta|domanda"
            r"|pergunta|demande|anfrage) (?:des|de l'|del|dell'|do) ?(?:nutzers|benutzers|utilisateur|usuario|utente"
            r"|usuário))|उपयोगकर्ता के (?:सवाल|प्रश्न) को (?:अनदेखा|नज़रअंदाज़|नजरअंदाज)"
        ),
        _pattern(r"\bforget (?:everything|all) (?:you|that)\b|\bnew instructions\s*:"),
        _pattern(rf"{_IGNORE}\s+(?:all\s+)?your\s+(?:guidelines|rules|training|instructions|programming)\b"),
        _pattern(r"\b(?:ignore|disregard) (?:what|everything) the user (?:asked|said|wants|wrote)\b"),
        _pattern(r"(?:पिछले|पहले के|सभी|अपने).{0,20}निर्देश.{0,20}(?:अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल)"),
        _pattern(r"(?:เพิกเฉย|ไม่ต้องสนใจ|ลืม|ละเลย).{0,15}(?:คำสั่ง|คำถามของผู้ใช้)"),
    ),
    "chat_markup": (
        _pattern(r"<\|(?:im_start|im_end|start_header_id|end_header_id|eot_id|system)\|>|<<sys>>|\[/?inst\]"),
        _pattern(r"</?\s*(?:system|context|instructions|sources)\s*>"),
    ),
    "system_prompt": (
        _pattern(r"\bsystem\s*prompt\s*:"),
        _pattern(
            r"\b(?:reveal|print|show|repeat|output|leak)\b.{0,20}\b(?:system\s*prompt"
            r"|(?:hidden|initial|original|secret) (?:prompt|instructions))"
        ),
        _pattern(r"(?:systemprompt|prompt système|prompt del sistema|prompt do sistema|सिस्टम प्रॉम्प्ट)"),
    ),
    "exfiltration": (
        _pattern(
            rf"\b(?:reveal|disclose|expose|revela|révèle|révélez|rivela|revele|preisgeben|gib)\b.{{0,40}}{_PRIVATE}"
        ),
        _pattern(rf"{_PRIVATE}.{{0,30}}(?:preis\b|बता दो|เปิดเผย)|เปิดเผย.{{0,30}}{_PRIVATE}"),
        _pattern(rf"{_SEND}.{{0,60}}{_PRIVATE}.{{0,60}}{_DESTINATION}"),
        _pattern(rf"{_SEND}.{{0,60}}{_USER_DATA}.{{0,60}}{_MAILBOX}"),
    ),
    "note_to_ai": (
        _pattern(
            rf"\b(?:note|message|instructions?|hinweis|nachricht|anweisung|nota|mensaje|messaggio|mensagem"
            rf"|instrucción|istruzione|instrução)\s+(?:\w+\s+){{0,2}}(?:to|for|an|für|pour|para|per|à|a)\s+"
            rf"(?:\w+\s+){{0,2}}{_AI}s?\b[^.:]{{0,40}}:"
        ),
        # "If you are an AI, …", in each language: a condition only an assistant meets, then an order.
        _pattern(
            rf"\bif (?:you are|you're) an? {_AI}\s*[,:]|\bif an? {_AI} is reading this\b|\bsi eres una? {_AI}\b"
            rf"|\bsi (?:tu es|vous êtes) une? {_AI}\b|\bse sei (?:un'|una |un )?{_AI}\b"
            rf"|\bse você (?:é|for) uma? {_AI}\b"
            rf"|\b(?:wenn|falls) du (?:eine? )?{_AI} bist\b|(?:यदि|अगर) (?:आप|तुम) (?:एक )?{_AI} (?:हैं|हो)"
            rf"|(?:หาก|ถ้า)คุณเป็น\s*{_AI}"
        ),
        # A salutation that ends in a colon: "To any AI that summarises this page:", "Attention LLMs:".
        _pattern(
            rf"^\W*(?:to|for|an|para|pour|per|ถึง|{_ATTENTION})\s+(?:\w+\s+){{0,2}}{_AI}s?"
            rf"(?:,? (?:that|who|which|reading|summari[sz]ing|crawling|que|qui|die|der|che|ที่)\b[^.:]{{0,50}})?\s*:"
        ),
        _pattern(
            rf"{_AI}s?,? (?:reading|that reads?|who reads?|die das liest|der das liest|que lees esto|qui lit ceci"
            rf"|que lee esto|che leggi|que está lendo|que lê)[^.:]{{0,30}}:"
        ),
        _pattern(
            rf"{_AI} के लिए(?: नोट| संदेश| निर्देश)?\s*:|(?:इसे|यह) पढ़ने वाले {_AI}\s*:|{_AI}\s*ที่(?:อ่าน|สรุป)[^:]{{0,20}}:"
            rf"|(?:ข้อความ|คำสั่ง)(?:ถึง|สำหรับ)\s*{_AI}\s*:"
        ),
    ),
    "addressed_to_ai": (
        _pattern(rf"(?:^|<!--)\W*(?:{_ATTENTION} )?{_AI}s?(?: {_AI}s?)?\s*[,:!]"),
        _pattern(rf"\bwhen (?:an?|the|any) {_AI} (?:reads|summari[sz]es|processes|crawls)\b"),
        _pattern(
            rf"\b(?:note|message|instructions?|hinweis|anweisung|instrucción|istruzione|instrução)\s+(?:\w+\s+)?"
            rf"(?:to|for|an|für|pour|para|per)\s+(?:the\s+|die\s+|l'|la\s+|el\s+|a\s+)?{_AI}s?\b"
        ),
        _pattern(rf"\bif you are an? {_AI}\b|\b{_ATTENTION} {_AI}\b"),
        _pattern(rf"\b{_AI}s? (?:reading|summari[sz]ing|processing|parsing|crawling) (?:this|these|the page)\b"),
        _pattern(
            rf"{_AI}\s*(?:के लिए|โปรดทราบ)|\[\s*{_AI} instructions?\s*\]|\bhidden instructions?\b|คำสั่งลับ"
            r"|छिपा निर्देश|versteckte anweisung|instruction cachée|instrucción oculta|istruzione nascosta"
            r"|instrução oculta"
        ),
    ),
    "new_role": (
        _pattern(r"\byou are now\b|\bfrom now on,? you\b|\bpretend (?:to be|you are)\b|\byou must now\b"),
        _pattern(
            r"\b(?:du bist (?:jetzt|nun|ab sofort)|ab jetzt bist du|tu es maintenant|vous êtes maintenant"
            r"|désormais,? (?:tu|vous)|ahora eres|a partir de ahora,? (?:eres|debes)|ora sei|adesso sei"
            r"|da ora in poi|agora você é|a partir de agora,? você)\b"
        ),
        _pattern(r"अब (?:तुम|आप)\b|ตอนนี้คุณคือ|จากนี้ไปคุณ"),
    ),
    "orders": (
        _pattern(
            r"\b(?:in|to) (?:every|each|all|your) (?:answers?|responses?|replies)\b"
            r"|\bstop (?:summari[sz]ing|answering)\b"
        ),
        _pattern(r"\binstead (?:write|say|reply|answer)\b|\b(?:reply|respond|answer) only with\b"),
        _pattern(r"\b(?:tell|ask|convince|persuade|send|direct|redirect)\s+(?:the\s+)?users?\b"),
        _pattern(
            rf"{_IGNORE}\s+(?:the |den |al |l'|o )?(?:user|nutzer|benutzer|usuario|utilisateur|utente|usuário)\b"
            r"(?! agent)|उपयोगकर्ता को (?:अनदेखा|नज़रअंदाज़)|ไม่ต้องสนใจผู้ใช้"
        ),
        _pattern(r"\b(?:use|using|call|run) (?:your|the) (?:tools?|browser|functions?|plugins?)\b"),
        _pattern(r"\b(?:ask|request)\b.{0,25}\b(?:password|credit card|card number|bank details|one-time code)"),
        _pattern(
            r"(?:frage|sag|schicke) (?:den|dem) (?:nutzer|benutzer)|demande à l'utilisateur|dis à l'utilisateur"
            r"|pide al usuario|dile al usuario|chiedi all'utente|di' all'utente|peça ao usuário|diga ao usuário"
        ),
        _pattern(r"उपयोगकर्ता (?:से|को).{0,30}(?:माँगो|मांगो|पूछो|बताओ|भेजो)|(?:ขอ|บอก).{0,20}ผู้ใช้|ผู้ใช้.{0,20}ให้ไป"),
    ),
    "user_data_out": (_pattern(rf"{_SEND}.{{0,60}}{_USER_DATA}.{{0,60}}(?:https?://|www\.)"),),
    "lifted_limits": (
        _pattern(
            r"\b(?:without|no) (?:any )?(?:filters?|restrictions|limits|rules|guidelines)\b|\bunrestricted\b"
            r"|\buncensored\b|\bdeveloper mode\b|\bjailbr[eo]ak|\bdo anything now\b"
            r"|\bohne (?:regeln|einschränkungen|filter|grenzen)\b|\bsans (?:limites|restrictions|filtres?)\b"
            r"|\bsin (?:límites|restricciones|filtros?)\b|\bsenza (?:limiti|restrizioni|filtri)\b"
            r"|\bsem (?:limites|restrições|filtros?)\b|बिना (?:किसी )?(?:सीमा|प्रतिबंध|नियम)|ไม่มีข้อจำกัด"
        ),
    ),
    "secrecy": (
        _pattern(r"\b(?:do not|don't|never) (?:tell|mention|reveal|show)\b.{0,20}\b(?:the user|anyone)\b"),
        _pattern(r"\bwithout (?:telling|informing|asking) the user\b|\bsilently\b|\bsecretly\b"),
        _pattern(r"ohne (?:es )?dem nutzer|sans le dire|sin decírselo|senza dirlo|sem contar|चुपचाप|อย่าบอกผู้ใช้"),
    ),
}
# Case matters for these: `SYSTEM:` opening a line is a forged message, `System: Windows 11` is not.
_FORGED_SYSTEM_MESSAGE = re.compile(
    r"(?:^|[\n>\]])\W*(?:BEGIN |NEW |END )?(?:SYSTEM|DEVELOPER)"
    r"(?: MESSAGE| OVERRIDE| NOTICE| UPDATE| INSTRUCTIONS?)?\s*:"
    r"|\[\s*(?i:system|sistema|système|systeme|सिस्टम|ระบบ)\s*\]"
)


@dataclass(frozen=True)
class FlaggedSentence:
    start: int  # offsets in the text that was checked
    end: int
    kinds: tuple[str, ...]  # from STRONG_KINDS and WEAK_KINDS


@dataclass(frozen=True)
class InjectionFinding:
    sentences: tuple[FlaggedSentence, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.sentences)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(kind for sentence in self.sentences for kind in sentence.kinds))


def normalised(text: str) -> str:
    """`text` as the patterns read it: compatibility forms folded, case folded, look-alikes read as Latin."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    return " ".join(folded.translate(_LOOK_ALIKES).split())


def signals(sentence: str) -> tuple[str, ...]:
    """The kinds of instruction attempt that one sentence shows, strong kinds first."""
    text = normalised(sentence)
    found = {kind for kind, patterns in _SIGNALS.items() if any(p.search(text) for p in patterns)}
    if _FORGED_SYSTEM_MESSAGE.search(unicodedata.normalize("NFKC", sentence)):
        found.add("forged_message")
    return tuple(kind for kind in (*STRONG_KINDS, *WEAK_KINDS) if kind in found)


def _is_flagged(kinds: tuple[str, ...]) -> bool:
    return any(kind in STRONG_KINDS for kind in kinds) or len(kinds) >= 2


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, without the whitespace between them."""
    spans, start = [], 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        if text[start:end].strip():
            spans.append((start, end))
        start = boundary.end() if boundary else end
    return spans


def find_injection(text: str) -> InjectionFinding:
    """The sentences of untrusted `text` that try to instruct the assistant reading it."""
    flagged = []
    for start, end in sentence_spans(text):
        kinds = signals(text[start:end])
        if _is_flagged(kinds):
            flagged.append(FlaggedSentence(start, end, kinds))
    return InjectionFinding(tuple(flagged))


def withhold(text: str, finding: InjectionFinding, note: str) -> str:
    """`text` with each flagged sentence replaced by `note`."""
    pieces, last = [], 0
    for sentence in finding.sentences:
        pieces += [text[last : sentence.start], note]
        last = sentence.end
    return "".join([*pieces, text[last:]])
