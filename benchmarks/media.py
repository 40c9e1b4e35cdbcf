"""What photos and voice notes cost on this machine: end to end through the product (upload to the
first answer token), and each worker-side step alone (OCR, transcription, speech).

    python -m benchmarks.media [--runs 3] [--turns 10] [--guard process]
    python -m benchmarks.media --production [--transcription-url URL] [--speech-url URL] [--vision-url URL]

End to end (`--turns` of each kind, alternated so drift hits both): the embedded shape of `make run`
on loopback: the llama.cpp model server (SmolLM2), the content guard in its own process, one Celery
worker on `default` and `media` (filesystem broker, file result backend) and the web server. A signed-in
account uploads the file (`POST /api/attachments`: the `media` worker cleans and reads it before the
answer) and sends the chat `message` frame naming it over the WebSocket, in a new conversation each
time. Each figure runs from the start of the upload to the first `token` frame, split into the upload
(read on the worker) and the turn (frame sent → first token: the door, the guard, the prompt, the
model's prefill). A voice note is a question spoken by espeak-ng as OGG/Opus; a photo is a 4032×3024
phone photo of a receipt with a question typed beside it. Each turn's file is new (another question,
another shop on the receipt), so no prompt is read from the model server's cache; search is off for
the account (benchmarks/search.py measures it). The first turn of each kind is timed apart: it includes
loading the OCR or speech models into the worker. A turn the content guard refuses has no first token:
it is counted, shown with what the worker read, and left out of the times.

Worker-side (`--runs`, median): each whole step of media.service, decode, checks and re-encoding
included, the Celery hop not; models loaded before timing, their load time printed apart.

Inputs are made here, as in tests/media: photos drawn with Pillow, speech from espeak-ng (in both modes,
so the figures compare).

--production times the services production runs on GPUs, each given by its URL (…/v1) or by the
environment variable of its setting: Whisper behind `/v1/audio/transcriptions`
(MEDIA_TRANSCRIPTION_BASE_URL), a speech server behind `/v1/audio/speech` (MEDIA_SPEECH_BASE_URL) and
the vision model that photo turns go to (MODEL_VISION_BASE_URL); the other settings of those servers
(MEDIA_TRANSCRIPTION_MODEL, MEDIA_SPEECH_VOICE, MODEL_VISION_NAME, their keys…) come from the
environment. They are set for this process's worker-side steps and for every product process; a
service given no URL, and the answers (SmolLM2) and OCR, stay on this machine's CPU. Without
--production those URLs are cleared, so one left in the environment never turns an embedded figure into
a remote one. The second line of the output says which services were timed where.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # media reads its settings

from django.test.utils import override_settings
from PIL import Image, ImageDraw, ImageFont

from benchmarks.relay import percentile
from benchmarks.run_all import gpu_name, machine
from benchmarks.shapes import GUARDS, UNLIMITED, start_guard
from media import ocr, speech
from media.conf import media_settings
from media.service import hear_voice, prepare_photo
from media.voice import AudioFormat, EspeakSpeaker, encode, synthesize
from tests.support.chat_client import ChatSession, ChatSocket, ServerAddress
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
RECEIPT = ["CAFE CENTRAL", "2 x Espresso      5.60", "1 x Croissant     2.90", "TOTAL EUR         8.50", "Thank you!"]
PHONE_PHOTO = ((4032, 3024), 110)  # a 12-megapixel phone photo, and the receipt's font size in it
CAMERA_GRAIN = 30  # with it the phone photo weighs about what a phone's JPEG does (2 to 4 MB)
PHOTO_QUESTION = "What is the total on this receipt?"
QUESTIONS = [
    "please remind me to buy milk and bread tomorrow morning",
    "what is the weather like in paris today",
    "how many minutes are there in three hours",
    "can you tell me a short story about a cat",
    "set an alarm for seven thirty in the morning",
    "what time does the train to london leave",
]
# The end-to-end voice notes, one question per turn (a prompt the model server has already seen would be
# read from its cache): questions whose transcripts stay harmless. pocketsphinx hears some of them
# wrong ("capital of friends"), but a misheard question can read as harmful to the embedded guard
# ("please remind me to buy milk…" became "read minds me to buy gilts and friends in iraq marty" and
# was refused), which ends the turn before any token.
VOICE_QUESTIONS = [
    "what is the weather like in paris today",
    "set an alarm for seven thirty in the morning",
    "what is the speed of light",
    "what is the weather like in london today",
    "what is the capital of france",
    "tell me a joke about dogs",
    "what is the population of london",
    "how many days are there in a year",
    "recommend a good book to read",
    "what is the weather like in berlin today",
    "what time is it in tokyo",
]
ANSWERS = [
    "Your train to Lyon leaves at fourteen thirty five from platform seven. It takes about two hours.",
    "There are one hundred and eighty minutes in three hours, because each hour has sixty minutes. "
    "If you need the seconds too, that is ten thousand eight hundred.",
]
ANSWER_TOKENS = 32  # only the first token is timed; a short answer keeps the model free for the next turn
UPLOAD_WAIT_SECONDS = 180  # the first upload waits for the worker to start and load its models
FRAME_WAIT_SECONDS = 120
WORKER_START_SECONDS = 120


@dataclass(frozen=True)
class Service:
    """A production service --production can time instead of its embedded default."""

    setting: str  # the setting (and environment variable) its URL goes to
    name: str
    embedded: str  # what runs on this machine's CPU when it has no URL


PRODUCTION_SERVICES = {  # by the option that gives its URL
    "transcription_url": Service("MEDIA_TRANSCRIPTION_BASE_URL", "transcription", "transcription by pocketsphinx"),
    "speech_url": Service("MEDIA_SPEECH_BASE_URL", "speech", "speech by espeak-ng"),
    "vision_url": Service("MODEL_VISION_BASE_URL", "vision", "no vision model (photos known by their OCR reading)"),
}
BASE_URL = re.compile(r"https?://\S+/v1/?")  # what the product's clients append their paths to


def photo(
    size: tuple[int, int], font_size: int, *, shop: str = RECEIPT[0], grain: float = 0, image_format: str = "JPEG"
) -> bytes:
    """The receipt printed on paper; `grain` (the noise's standard deviation) makes it weigh what a
    camera's photo weighs: a sensor's noise is what JPEG compresses worst."""
    image = Image.new("RGB", size, (245, 240, 230))
    if grain:
        image = Image.blend(image, Image.effect_noise(size, grain).convert("RGB"), 0.25)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(DEJAVU, font_size)
    for row, line in enumerate([shop, *RECEIPT[1:]]):
        draw.text((size[0] // 10, size[1] // 10 + row * font_size * 2), line, font=font, fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format=image_format, **({"quality": 88} if image_format == "JPEG" else {}))
    return out.getvalue()


def spoken(question: str) -> tuple[bytes, float]:
    """`question` as an OGG/Opus voice note spoken by espeak-ng, whichever speech server is timed;
    (data, seconds)."""
    return encode(EspeakSpeaker().speak(question, language="en"), AudioFormat.OGG_OPUS)


def voice_notes(questions: list[str]) -> list[bytes]:
    return [spoken(q)[0] for q in questions]


# --- end to end: upload → first answer token ----------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str
    content_type: str
    text: str  # typed with it ("" for a voice note: its transcript is the message)


@dataclass(frozen=True)
class Turn:
    upload_s: float  # POST /api/attachments, the `media` worker's cleaning and reading included
    first_token_s: float | None  # the `message` frame sent → its answer's first `token` frame
    read: str  # what the worker read: the transcript, or the photo's printed text


async def sign_up(session: ChatSession) -> None:
    """Turn the session's guest into an account, as the sign-up page does."""
    password = uuid.uuid4().hex
    form = {
        "username": f"bench-{uuid.uuid4().hex[:8]}",
        "password1": password,
        "password2": password,
        "csrfmiddlewaretoken": session.http.cookies["csrftoken"],
    }
    response = await session.http.post("/accounts/signup/", data=form)
    if response.status_code != 302:
        raise RuntimeError(f"sign-up answered {response.status_code}: {response.text[:300]}")


async def uploaded(session: ChatSession, upload: Upload) -> dict[str, Any]:
    response = await session.http.post(
        "/api/attachments",
        files={"file": (upload.name, upload.data, upload.content_type)},
        headers={"X-CSRFToken": session.http.cookies["csrftoken"]},
        timeout=UPLOAD_WAIT_SECONDS,
    )
    if response.status_code != 201:
        raise RuntimeError(f"the upload of {upload.name} answered {response.status_code}: {response.text[:300]}")
    return response.json()


async def timed_turn(session: ChatSession, upload: Upload) -> Turn:
    """Upload, send the message naming it, and time both until the answer's first token."""
    started = time.perf_counter()
    attachment = await uploaded(session, upload)
    sent = time.perf_counter()
    socket = await session.connect()
    try:
        frame = {"type": "message", "conversation_id": None, "text": upload.text, "client_id": uuid.uuid4().hex}
        await socket.send(frame | {"attachment_id": attachment["id"]})
        first_token = await _first_token(socket)
        if first_token is not None:
            while (await socket.recv(FRAME_WAIT_SECONDS))["type"] != "done":
                pass  # the answer runs to its end, so the next turn finds the model free
    finally:
        await socket.close()
    # A photo's reading ends with the text found in it, after the facts; its lines are joined with " / ".
    found = attachment["transcript"] or attachment["reading"].partition("Text found in the photo:")[2]
    read = " / ".join(line.strip() for line in found.splitlines() if line.strip())
    return Turn(upload_s=sent - started, first_token_s=None if first_token is None else first_token - sent, read=read)


async def _first_token(socket: ChatSocket) -> float | None:
    """When the first token came; None when the guard refused the turn."""
    while True:
        frame = await socket.recv(FRAME_WAIT_SECONDS)
        if frame["type"] == "token":
            return time.perf_counter()
        if frame["type"] == "done" and frame["finish_reason"] == "blocked":
            return None
        if frame["type"] in {"error", "done"}:
            raise RuntimeError(f"the turn ended before its first token: {frame}")


@dataclass(frozen=True)
class Turns:
    cold: dict[str, Turn]  # the first turn of each kind: the worker loads its OCR or speech models
    warm: dict[str, list[Turn]]


async def measure_turns(server: ServerAddress, uploads: dict[str, list[Upload]], turns: int) -> Turns:
    """The first turn of each kind, then `turns` more of each, the kinds alternated (`turns` + 1 uploads
    of each kind)."""
    async with ChatSession(server) as session:
        await sign_up(session)
        # Without the `search` queue's worker a question about the weather waits for search's timeout:
        # benchmarks/search.py measures search, this one the photo's and the voice note's path alone.
        (await session.api("PATCH", "/api/settings", {"search_mode": "off"})).raise_for_status()
        cold = {kind: await timed_turn(session, files[0]) for kind, files in uploads.items()}
        warm: dict[str, list[Turn]] = {kind: [] for kind in uploads}
        for number in range(1, turns + 1):
            for kind, files in uploads.items():
                warm[kind].append(await timed_turn(session, files[number]))
    return Turns(cold, warm)


def report_turns(kind: str, cold: Turn, warm: list[Turn]) -> list[str]:
    def figure(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s, p95 {percentile(values, 95):.2f} s"

    answered = [(t.upload_s, t.first_token_s) for t in warm if t.first_token_s is not None]
    lines = [f"{kind}: the content guard refused {len(warm) - len(answered)} of {len(warm)} turns"]
    lines += [f"  refused, read as: {t.read!r}" for t in warm if t.first_token_s is None]
    if len(answered) >= 2:
        lines += [
            f"{kind} → first answer token: {figure([u + f for u, f in answered])} over {len(answered)} answered turns",
            f"  upload, read on the worker: {figure([u for u, _ in answered])}; "
            f"turn to first token: {figure([f for _, f in answered])}",
        ]
    if cold.first_token_s is not None:
        lines.append(
            f"  first {kind} after the worker started (its models loading): "
            f"upload {cold.upload_s:.2f} s, turn {cold.first_token_s:.2f} s"
        )
    return lines


def wait_until_ready(worker: subprocess.Popen[bytes], log: Path) -> None:
    """Until Celery logs that the worker consumes (`celery@host ready.`), so no turn waits for its start."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the media worker did not start; see {log}")
        time.sleep(0.2)


@contextmanager
def embedded_product(guard: str, services: dict[str, str]) -> Iterator[ServerAddress]:
    """`make run`'s shape on loopback: model server, guard, a `default`+`media` worker, web server;
    `services`: the production services' settings (service_settings)."""
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp, ExitStack() as stack:
        var_dir = Path(os.environ.get("BENCH_DIR", tmp))  # BENCH_DIR keeps the processes' logs
        model_port = free_port()
        model_url = f"http://127.0.0.1:{model_port}/v1"
        env = product_env(
            var_dir,
            **start_guard(stack, guard).settings,
            MODEL_BASE_URL=model_url,
            MODEL_MAX_TOKENS=str(ANSWER_TOKENS),
            ASSISTANT_MODEL_TITLES="false",
            LOG_LEVEL="WARNING",
            **UNLIMITED,
            **services,
        )
        migrate(env)
        model = [sys.executable, "-m", "model_service.embedded", "--port", str(model_port), "--threads", "2"]
        stack.enter_context(running(model, env=env, ready_url=f"{model_url}/models", log=var_dir / "model.log"))
        worker_log = var_dir / "worker.log"
        worker = running(worker_command(queues=("default", "media")), env=env | {"LOG_LEVEL": "INFO"}, log=worker_log)
        wait_until_ready(stack.enter_context(worker), worker_log)
        web_port = free_port()  # only now: the model server holds its port, so the two cannot collide
        web_url = f"http://127.0.0.1:{web_port}"
        web = web_server_command(web_port, "--log-level", "warning")
        stack.enter_context(running(web, env=env, ready_url=f"{web_url}/healthz", log=var_dir / "web.log"))
        yield ServerAddress(web_url)


def bench_end_to_end(turns: int, guard: str, services: dict[str, str]) -> list[str]:
    # Each turn's file is new, so its prompt is too: a photo's reading differs from its first line on.
    count = turns + 1
    questions = [VOICE_QUESTIONS[number % len(VOICE_QUESTIONS)] for number in range(count)]
    uploads = {
        "voice note": [Upload(note, "voice.ogg", "audio/ogg", "") for note in voice_notes(questions)],
        "photo": [
            Upload(
                photo(*PHONE_PHOTO, shop=f"SHOP {n}", grain=CAMERA_GRAIN), "receipt.jpg", "image/jpeg", PHOTO_QUESTION
            )
            for n in range(1, count + 1)
        ],
    }
    with embedded_product(guard, services) as server:
        measured = asyncio.run(measure_turns(server, uploads, turns))
    served = "".join(f"; {service.name} at {services[service.setting]}" for service in _served(services))
    lines = [
        f"end to end: embedded shape (SmolLM2 on llama.cpp, 2 threads; guard: {GUARDS[guard]}; "
        f"one `media` worker process{served}), a signed-in account with search off, a new conversation per turn"
    ]
    for kind in uploads:
        lines += report_turns(kind, measured.cold[kind], measured.warm[kind])
    return lines


# --- worker-side steps ---------------------------------------------------------------------------------


def seconds_of(work: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of `work` over `runs` runs."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def load_times() -> str:
    """The load times of the models this process runs: OCR, and pocketsphinx unless a server transcribes."""
    started = time.perf_counter()
    ocr.engine()
    line = f"model loads: OCR {time.perf_counter() - started:.2f} s"
    if media_settings().transcription_base_url:
        return line
    started = time.perf_counter()
    speech.embedded_transcriber()
    return f"{line}, pocketsphinx {time.perf_counter() - started:.2f} s"


def bench_ocr(runs: int) -> list[str]:
    lines = []
    for name, data in (
        ("phone photo 4032×3024", photo(*PHONE_PHOTO, grain=CAMERA_GRAIN)),
        ("screenshot 1280×800 (PNG)", photo((1280, 800), 36, image_format="PNG")),
    ):
        prepared = prepare_photo(data)
        read = "".join("".join(line.text.split()) for line in prepared.reading.lines)
        found = sum("".join(line.split()) in read for line in RECEIPT)  # OCR may drop spaces, never count them
        per_photo = seconds_of(lambda data=data: prepare_photo(data), runs)
        kept = Image.open(io.BytesIO(prepared.data))
        lines.append(
            f"OCR, {name}: {per_photo:.2f} s per photo (clean, read, scale); {found}/{len(RECEIPT)} receipt "
            f"lines read; kept and sent on: {kept.width}×{kept.height} {prepared.media_type.mime}, "
            f"{len(prepared.data) / 1000:.0f} kB (uploaded: {len(data) / 1000:.0f} kB)"
        )
    return lines


def bench_transcription(runs: int) -> list[str]:
    notes = [spoken(q) for q in QUESTIONS]
    audio_seconds = sum(seconds for _, seconds in notes)
    busy = seconds_of(lambda: [hear_voice(data) for data, _ in notes], runs)
    rates = [speech.word_error_rate(q, hear_voice(data).text) for q, (data, _) in zip(QUESTIONS, notes, strict=True)]
    configured = media_settings()
    engine = "pocketsphinx"
    if configured.transcription_base_url:
        engine = f"{configured.transcription_model} at {configured.transcription_base_url}"
    return [
        f"transcription ({engine}, {len(notes)} OGG/Opus notes, {audio_seconds:.1f} s of speech): "
        f"real-time factor {busy / audio_seconds:.3f}",
        f"word error rate, espeak-ng en-us+f2 voice: mean {statistics.mean(rates):.2f} "
        f"(per note: {', '.join(f'{r:.2f}' for r in rates)})",
    ]


def bench_speech(runs: int) -> list[str]:
    configured = media_settings()
    engine = "espeak-ng"
    if configured.speech_base_url:
        engine = f"{configured.speech_model}, voice {configured.speech_voice}, at {configured.speech_base_url}"
    lines = []
    for audio_format in AudioFormat:
        said = [synthesize(answer, language="en", audio_format=audio_format) for answer in ANSWERS]
        answer_seconds = sum(s.seconds for s in said)
        busy = seconds_of(
            lambda audio_format=audio_format: [
                synthesize(a, language="en", audio_format=audio_format) for a in ANSWERS
            ],
            runs,
        )
        size = sum(len(s.data) for s in said) / answer_seconds / 1000
        lines.append(
            f"TTS ({engine}) → {audio_format}: {busy / answer_seconds:.3f} s per answer second "
            f"({answer_seconds:.1f} s of answers, {size:.1f} kB per second of audio)"
        )
    return lines


def _served(services: dict[str, str]) -> list[Service]:
    return [service for service in PRODUCTION_SERVICES.values() if services[service.setting]]


def gpu_line(services: dict[str, str]) -> str:
    """What the figures time: the production services given by URL (the GPU path, on whatever serves
    them), and what ran on this machine's CPU instead."""
    here = gpu_name() or "no NVIDIA GPU"
    served = _served(services)
    embedded = [service.embedded for service in PRODUCTION_SERVICES.values() if service not in served]
    local = ", ".join([*embedded, "OCR", "answers by SmolLM2 on llama.cpp"])
    if not served:
        return f"GPU path: not measured (this machine: {here}); every figure is an embedded CPU default: {local}"
    timed = ", ".join(f"{service.name} at {services[service.setting]}" for service in served)
    return f"GPU path: timed at production services: {timed}; on this machine's CPU ({here}): {local}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each worker-side figure (median)")
    parser.add_argument("--turns", type=int, default=10, help="end-to-end turns of each kind (0: none)")
    parser.add_argument("--guard", choices=GUARDS, default="process", help="where the content guard runs")
    parser.add_argument("--production", action="store_true", help="time the production services given by URL")
    for option, service in PRODUCTION_SERVICES.items():
        parser.add_argument(
            f"--{option.replace('_', '-')}",
            default=os.environ.get(service.setting, ""),
            help=f"with --production: the {service.name} server's base URL, …/v1 (default: ${service.setting})",
        )
    args = parser.parse_args(argv)
    if args.turns == 1:
        parser.error("--turns: 0, or at least 2 for a 95th percentile")
    urls = {option: getattr(args, option) for option in PRODUCTION_SERVICES}
    if args.production and not any(urls.values()):
        parser.error("--production: give at least one of --transcription-url, --speech-url and --vision-url")
    for option, url in urls.items():
        if args.production and url and not BASE_URL.fullmatch(url):
            parser.error(f"--{option.replace('_', '-')}: an http(s) base URL ending in /v1, not {url!r}")
    return args


def service_settings(args: argparse.Namespace) -> dict[str, str]:
    """The production services' settings for this process and every product process: the URLs given with
    --production ("" for the others), all "" without it."""
    return {
        service.setting: getattr(args, option) if args.production else ""
        for option, service in PRODUCTION_SERVICES.items()
    }


def main() -> None:
    args = parse_args()
    services = service_settings(args)
    print(f"machine: {machine()}")
    print(gpu_line(services))
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f}", flush=True)
    if args.turns:
        print("\n".join(bench_end_to_end(args.turns, args.guard, services)), flush=True)
    print(f"runs per worker-side figure (median): {args.runs}")
    with override_settings(**services):  # the worker-side steps run in this process
        print(load_times())
        for line in [*bench_ocr(args.runs), *bench_transcription(args.runs), *bench_speech(args.runs)]:
            print(line, flush=True)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
