"""Asking for a picture to be restyled in plain words ("make it watercolour", "turn this into a pencil
sketch"), as people ask Meta AI, beside the `/imagine edit <instruction>` command and the Edit button.

Recognised only where a picture is what "it" means: in a photo's caption, or right after an answer
that is a picture (assistant/engine/turns.py decides that). The phrasings are those of the UI's eight
languages; anything else stays a question for the model. A request about words rather than looks
("make it shorter", "turn it into a poem") is not a restyle even there: a photo of a letter is
asked about its text as often as it is restyled.
"""

from __future__ import annotations

import re

_PICTURE = r"(?:it|this|that|the (?:photo|picture|image|pic|drawing|render))"
_SUBJECT = rf"(?:{_PICTURE}|me|us|him|her|them)"  # "turn me into a superhero", on a selfie
# Each phrasing's group `style` is what the picture should become; the verb and "it" are dropped so
# the instruction reads as Imagine's edit prompts do ("watercolour, a photo you sent").
_PHRASINGS = [
    rf"^make {_SUBJECT} look (?:like )?(?P<style>.+)$",
    rf"^(?:make|change|redo|redraw|repaint|render) {_PICTURE}(?: into| to| like| in| as)? (?P<style>.+)$",
    rf"^(?:turn|transform|convert) {_SUBJECT} (?:into|to|in|as) (?P<style>.+)$",
    rf"^(?:give|paint|draw) {_PICTURE} (?P<style>.+)$",
    r"^(?:restyle|redo|redraw|repaint) (?:it |this |the (?:photo|picture|image) )?(?:as|in|like) (?P<style>.+)$",
    # de: "mach es zu einem Aquarell", "mach daraus ein Aquarell", "verwandle das Bild in ein Aquarell"
    r"^(?:mach|mache|verwandle|verwandel) (?:es|das|daraus|das (?:bild|foto))(?: zu| in| als)? (?P<style>.+)$",
    # fr: "transforme-la en aquarelle", "fais-en une aquarelle", "rends la photo en noir et blanc"
    r"^(?:transforme|rends|fais|mets)[- ](?:la|le|les|en|ça|cela|la photo|l'image)(?: en| comme)? (?P<style>.+)$",
    # es: "conviértela en acuarela", "hazlo en blanco y negro"
    r"^(?:convi[eé]rtel[ao]|transf[oó]rmal[ao]|hazl[ao]|ponl[ao])(?: en| como)? (?P<style>.+)$",
    # it: "trasformala in acquerello", "rendila in bianco e nero"
    r"^(?:trasformal[ao]|rendil[ao]|fall[ao])(?: in| come)? (?P<style>.+)$",
    # pt: "transforme em aquarela", "deixe-a em preto e branco", "transforma a foto em aquarela"
    r"^(?:transforme|transforma|deixe|deixa|faça|faz)(?:-a|-o| isso| a foto| a imagem)?(?: em| como) (?P<style>.+)$",
    # hi: "इसे वॉटरकलर बना दो", "इसे पेंसिल स्केच में बदलो"
    r"^(?:इसे|इस (?:फ़ोटो|फोटो|तस्वीर) को) (?P<style>.+?)(?: में)? (?:बना दो|बनाओ|बनाइए|बना दीजिए|बदलो|बदल दो|बदलिए)$",
    # th: "ทำให้เป็นภาพสีน้ำ", "เปลี่ยนเป็นภาพขาวดำ"
    r"^(?:ช่วย)?(?:ทำให้เป็น|ทำเป็น|เปลี่ยนเป็น|เปลี่ยนให้เป็น)\s*(?P<style>.+)$",
]
_PATTERNS = [re.compile(phrasing, re.IGNORECASE) for phrasing in _PHRASINGS]
_POLITE = re.compile(
    r"^(?:(?:please|now|ok|okay|and|can you|could you|bitte|jetzt|s'il te plaît|por favor|per favore)[ ,]+)+",
    re.IGNORECASE,
)
# Words of a request to rewrite text, never a picture's looks.
_ABOUT_WORDS = re.compile(
    r"\b(?:short|long|formal|polite|simple|simpler|clear|concise|professional|summar\w*|translat\w*|grammar"
    r"|spelling|rhyme|bullet|list|table|paragraph|sentence|word|email|letter|text|code|essay|poem|story|reply"
    r"|language|english|spanish|french|german|italian|portuguese|hindi|thai)"
    r"(?:er|s)?\b",
    re.IGNORECASE,
)


def restyle_instruction(text: str) -> str | None:
    """What a picture should become when `text` asks, in plain words, for it to be restyled; None for
    anything else. The politeness before the request and a closing full stop are left out."""
    words = _POLITE.sub("", " ".join(text.split())).rstrip(".!?。")
    for pattern in _PATTERNS:
        if (found := pattern.match(words)) is not None:
            style = found["style"].strip()
            return None if not style or _ABOUT_WORDS.search(style) else style
    return None
