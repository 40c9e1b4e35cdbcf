"""What photos and voice cost on the `media` worker, embedded defaults, on this machine: OCR seconds
per photo, transcription real-time factor (and its word error rate), TTS seconds per answer second.

    python -m benchmarks.media [--runs 3]

Inputs are made here, as in tests/media: photos of printed text drawn with Pillow (a phone-sized one
and a screenshot-sized one), questions spoken by espeak-ng and sent as OGG/Opus voice notes, answers
of a few sentences read aloud. Each figure is the whole worker-side step (media.service): decode,
checks and re-encoding included, the Celery hop not. Models are loaded before timing; their load
time is printed apart.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # media reads its settings

from PIL import Image, ImageDraw, ImageFont

from benchmarks.run_all import machine
from media import ocr, speech
from media.service import hear_voice, prepare_photo
from media.voice import AudioFormat, synthesize

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
RECEIPT = ["CAFE CENTRAL", "2 x Espresso      5.60", "1 x Croissant     2.90", "TOTAL EUR         8.50", "Thank you!"]
QUESTIONS = [
    "please remind me to buy milk and bread tomorrow morning",
    "what is the weather like in paris today",
    "how many minutes are there in three hours",
    "can you tell me a short story about a cat",
    "set an alarm for seven thirty in the morning",
    "what time does the train to london leave",
]
ANSWERS = [
    "Your train to Lyon leaves at fourteen thirty five from platform seven. It takes about two hours.",
    "There are one hundred and eighty minutes in three hours, because each hour has sixty minutes. "
    "If you need the seconds too, that is ten thousand eight hundred.",
]


def photo(size: tuple[int, int], font_size: int) -> bytes:
    image = Image.new("RGB", size, (245, 240, 230))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(DEJAVU, font_size)
    for row, line in enumerate(RECEIPT):
        draw.text((size[0] // 10, size[1] // 10 + row * font_size * 2), line, font=font, fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88)
    return out.getvalue()


def seconds_of(work: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of `work` over `runs` runs."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def load_times() -> str:
    started = time.perf_counter()
    ocr.engine()
    ocr_load = time.perf_counter() - started
    started = time.perf_counter()
    speech.embedded_transcriber()
    return f"model loads: OCR {ocr_load:.2f} s, pocketsphinx {time.perf_counter() - started:.2f} s"


def bench_ocr(runs: int) -> list[str]:
    lines = []
    for name, size, font_size in (
        ("phone photo 4032×3024", (4032, 3024), 110),
        ("screenshot 1280×800", (1280, 800), 36),
    ):
        data = photo(size, font_size)
        read = "".join("".join(line.text.split()) for line in prepare_photo(data).reading.lines)
        found = sum("".join(line.split()) in read for line in RECEIPT)  # OCR may drop spaces, never count them
        per_photo = seconds_of(lambda data=data: prepare_photo(data), runs)
        lines.append(f"OCR, {name}: {per_photo:.2f} s per photo; {found}/{len(RECEIPT)} receipt lines read")
    return lines


def bench_transcription(runs: int) -> list[str]:
    notes = [synthesize(q, language="en", audio_format=AudioFormat.OGG_OPUS) for q in QUESTIONS]
    audio_seconds = sum(note.seconds for note in notes)
    busy = seconds_of(lambda: [hear_voice(note.data) for note in notes], runs)
    rates = [speech.word_error_rate(q, hear_voice(n.data).text) for q, n in zip(QUESTIONS, notes, strict=True)]
    return [
        f"transcription (pocketsphinx, {len(notes)} OGG/Opus notes, {audio_seconds:.1f} s of speech): "
        f"real-time factor {busy / audio_seconds:.3f}",
        f"word error rate, espeak-ng en-us+f2 voice: mean {statistics.mean(rates):.2f} "
        f"(per note: {', '.join(f'{r:.2f}' for r in rates)})",
    ]


def bench_speech(runs: int) -> list[str]:
    lines = []
    for audio_format in AudioFormat:
        spoken = [synthesize(answer, language="en", audio_format=audio_format) for answer in ANSWERS]
        answer_seconds = sum(s.seconds for s in spoken)
        busy = seconds_of(
            lambda audio_format=audio_format: [
                synthesize(a, language="en", audio_format=audio_format) for a in ANSWERS
            ],
            runs,
        )
        size = sum(len(s.data) for s in spoken) / answer_seconds / 1000
        lines.append(
            f"TTS (espeak-ng) → {audio_format}: {busy / answer_seconds:.3f} s per answer second "
            f"({answer_seconds:.1f} s of answers, {size:.1f} kB per second of audio)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"runs per figure (median): {args.runs}")
    print(load_times())
    for line in [*bench_ocr(args.runs), *bench_transcription(args.runs), *bench_speech(args.runs)]:
        print(line)


if __name__ == "__main__":
    main()
