"""What the knowledge store adds before the first token, and how often it finds the right page.

    python -m benchmarks.knowledge [--runs 3]

Builds, in a temporary SQLite database, three documents (a PDF, a DOCX and a PPTX of ten pages
each) through the extraction task's body, and forty remembered facts. Then:
- time: document retrieval (BM25 + MiniLM over every chunk, the question embedded once) and memory
  retrieval (MiniLM, Llama 3 token budget) per question, warm, median and 95th percentile. Both run
  before the prompt is built, so each is time added to the first token. Target (issue 24): ≤ 100 ms each.
- hit rate: thirty labelled questions (about half paraphrased, sharing few words with their page):
  the right (document, page) first, and among the first three, for hybrid (with and without the
  relevance floor KNOWLEDGE_DOCUMENT_MIN_SCORE), BM25-only and embeddings-only.
- the floor: how many of twelve questions about none of the files ("hello", "what's 2+2") are still
  given passages, with and without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DOCUMENTS = {
    "harbour-report.pdf": [
        "Ships handled. The port handled 412 cargo ships this year, eight percent more than last year.",
        "Pilots. Four new harbour pilots completed the night navigation course in March.",
        "The lighthouse. The lighthouse keeper's cat is called Marmalade and sleeps by the lamp room stove.",
        "Dredging. Dredging the eastern channel will cost 2.4 million euros next year.",
        "Ferries. Ferries to the islands leave every hour from seven in the morning until nine at night.",
        "Fish market. The fish market opens at five; the auction of the night's catch starts at six.",
        "Water quality. Oil spills fell to two minor incidents, both cleaned within a day.",
        "Weather station. The breakwater weather station recorded a record gust of 148 km/h in January.",
        "Tourism. Cruise passengers rose to 90,000, most of them visiting the old town.",
        "Canteen. The staff canteen now serves a vegetarian dish every day.",
    ],
    "garden-handbook.docx": [
        "Tomatoes. Sow tomatoes indoors in March and plant them out after the last frost.",
        "Compost. A compost heap needs a mix of green and brown material and should be turned monthly.",
        "Roses. Prune roses in late winter, cutting just above an outward-facing bud.",
        "Lawn. Mow the lawn no shorter than four centimetres during dry summers.",
        "Bees. Lavender, borage and clover attract bees and other pollinators.",
        "Apple trees. Apple trees are pruned in winter while dormant to shape an open centre.",
        "Watering. Drip irrigation at dawn loses the least water to evaporation.",
        "Slugs. Beer traps and copper tape keep slugs away from lettuce.",
        "Frost. Wrap tender pots in fleece when nights drop below zero.",
        "Herbs. Basil wants warmth and sun; mint spreads and is best grown in a pot.",
    ],
    "onboarding.pptx": [
        "Your laptop\nIT sets up your laptop on the first morning; bring an identity document.",
        "Holidays\nEveryone has 25 days of paid leave a year, plus public holidays.",
        "Expenses\nSubmit expense claims within 30 days with a photo of each receipt.",
        "Badge\nYour security badge opens the building from 6:00 to 22:00; report a lost badge at once.",
        "Parking\nThe underground car park has charging points for electric cars on level -2.",
        "Payroll\nSalaries are paid on the 25th of each month.",
        "Code review\nEvery change needs one approving review before it is merged.",
        "On-call\nOn-call engineers rotate weekly and receive an allowance per shift.",
        "Health insurance\nThe company pays for private health insurance, including dental care.",
        "Training\nEach employee has a training budget of 1,500 euros a year for courses and books.",
    ],
}
# (question, document, page): lexical ones share words with their page, paraphrases mostly do not.
QUESTIONS = [
    ("How many cargo ships did the port handle?", "harbour-report.pdf", 1),
    ("Who finished the night navigation course?", "harbour-report.pdf", 2),
    ("What is the lighthouse keeper's cat called?", "harbour-report.pdf", 3),
    ("How much will deepening the eastern waterway cost?", "harbour-report.pdf", 4),
    ("When can I catch a boat to the islands?", "harbour-report.pdf", 5),
    ("What time does the auction of the catch begin?", "harbour-report.pdf", 6),
    ("Were there any oil pollution incidents?", "harbour-report.pdf", 7),
    ("What was the strongest wind ever measured there?", "harbour-report.pdf", 8),
    ("How many cruise visitors came?", "harbour-report.pdf", 9),
    ("Is there meat-free food for employees at lunch?", "harbour-report.pdf", 10),
    ("When should tomatoes be sown?", "garden-handbook.docx", 1),
    ("How do I make good compost?", "garden-handbook.docx", 2),
    ("When do I cut back my rose bushes?", "garden-handbook.docx", 3),
    ("How short can I cut the grass in a drought?", "garden-handbook.docx", 4),
    ("Which plants bring pollinating insects?", "garden-handbook.docx", 5),
    ("When are apple trees pruned?", "garden-handbook.docx", 6),
    ("What is the most efficient way to water plants?", "garden-handbook.docx", 7),
    ("How can I protect my lettuce from slugs?", "garden-handbook.docx", 8),
    ("How do I keep potted plants alive in freezing nights?", "garden-handbook.docx", 9),
    ("Why should mint be kept in a container?", "garden-handbook.docx", 10),
    ("What should I bring on my first day to get my computer?", "onboarding.pptx", 1),
    ("How many days of vacation do I get?", "onboarding.pptx", 2),
    ("What is the deadline for expense claims?", "onboarding.pptx", 3),
    ("I lost my access card, what now?", "onboarding.pptx", 4),
    ("Where can I charge my electric car?", "onboarding.pptx", 5),
    ("On what day does my pay arrive?", "onboarding.pptx", 6),
    ("How many approvals does a change need before merging?", "onboarding.pptx", 7),
    ("Do on-call engineers get paid extra?", "onboarding.pptx", 8),
    ("Does the company cover the dentist?", "onboarding.pptx", 9),
    ("How much can I spend on courses and books?", "onboarding.pptx", 10),
]
FACTS = [
    "Lives in Porto.",
    "Works as a nurse.",
    "Has a dog named Rex.",
    "Is vegetarian.",
    "Plays the cello.",
    "Has two daughters.",
    "Is learning Japanese.",
    "Runs half marathons.",
    "Drives an electric car.",
    "Prefers short answers.",
    "Is allergic to peanuts.",
    "Grows tomatoes on a balcony.",
    "Supports FC Porto.",
    "Birthday is on 3 May.",
    "Works night shifts.",
    "Reads science fiction.",
    "Is saving for a house.",
    "Takes the train to work.",
    "Speaks Portuguese and English.",
    "Has a cat called Luna.",
    "Is planning a trip to Japan in April.",
    "Dislikes coffee.",
    "Drinks green tea.",
    "Studied biology.",
    "Volunteers at an animal shelter.",
    "Plays chess online.",
    "Bakes sourdough bread.",
    "Cycles on weekends.",
    "Uses Linux at home.",
    "Has a vegetable garden.",
    "Likes jazz.",
    "Is afraid of flying.",
    "Wants to learn to swim.",
    "Has a sister in Lisbon.",
    "Collects vinyl records.",
    "Watches Formula 1.",
    "Is renovating a kitchen.",
    "Keeps a bullet journal.",
    "Writes poetry.",
    "Goes climbing on Fridays.",
]
# About none of the files: the hybrid floor should leave each of them without passages.
UNRELATED = [
    "hello",
    "what's 2+2",
    "Thanks, that's all!",
    "Tell me a joke.",
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "How do I reverse a list in Python?",
    "Who won the football world cup in 2018?",
    "Translate 'good morning' into Spanish.",
    "What's the weather like today?",
    "Can you help me?",
    "What time is it in Tokyo?",
]
MEMORY_QUESTIONS = [q for q, _, _ in QUESTIONS]
DOCUMENT_BUDGET = 800  # tokens of passages a prompt would take
MEMORY_BUDGET = 200


def setup_django(folder: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["ASSISTANT_VAR_DIR"] = str(folder)
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'db.sqlite3'}"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build(owner_id: int) -> None:
    from knowledge import memory, services
    from tests.knowledge.builders import docx_bytes, pdf_bytes, pptx_bytes

    builders = {".pdf": pdf_bytes, ".docx": docx_bytes, ".pptx": pptx_bytes}
    for name, pages in DOCUMENTS.items():
        data = builders[Path(name).suffix](pages)
        document = services.create_document(owner_id=owner_id, name=name, data=data)
        assert services.process_document(document.pk) == "ready", name
    source = memory.Source(channel="web")
    for fact in FACTS:
        memory.remember(owner_id=owner_id, fact=memory.Fact(fact=fact), source=source, content_check=lambda _t: True)


def timings_ms(call: Callable[[str], object], questions: list[str], runs: int) -> list[float]:
    call(questions[0])  # warm: the model and tokenizer load once per process
    spent = []
    for _ in range(runs):
        for question in questions:
            started = time.perf_counter()
            call(question)
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def rankings() -> dict[str, dict[str, object]]:
    """Each way of ranking compared, as `document_passages` arguments; min_score 0: no floor."""
    from knowledge.retrieval import Ranking

    return {
        "hybrid": {"ranking_mode": Ranking.HYBRID},
        "hybrid, no floor": {"ranking_mode": Ranking.HYBRID, "min_score": 0.0},
        "bm25": {"ranking_mode": Ranking.BM25},
        "embeddings": {"ranking_mode": Ranking.EMBEDDINGS},
    }


def hit_rates(owner_id: int) -> dict[str, tuple[float, float]]:
    from knowledge.retrieval import document_passages

    rates = {}
    for label, how in rankings().items():
        first = top3 = 0
        for question, name, page in QUESTIONS:
            found = document_passages(owner_id=owner_id, question=question, token_budget=10_000, **how)
            places = [(p.document_name, p.page) for p in found[:3]]
            first += bool(places) and places[0] == (name, page)
            top3 += (name, page) in places
        rates[label] = (first / len(QUESTIONS), top3 / len(QUESTIONS))
    return rates


def unrelated_given_passages(owner_id: int, min_score: float | None) -> int:
    """How many UNRELATED questions the hybrid ranking gives passages (min_score None: the setting's floor)."""
    from knowledge.retrieval import document_passages

    return sum(
        bool(document_passages(owner_id=owner_id, question=question, token_budget=10_000, min_score=min_score))
        for question in UNRELATED
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder))
        from assistant.chat.services import create_guest
        from knowledge import memory, retrieval
        from knowledge.conf import knowledge_settings
        from knowledge.models import DocumentChunk

        owner_id = create_guest().pk
        build(owner_id)
        chunks = DocumentChunk.objects.filter(document__owner_id=owner_id).count()
        documents_ms = timings_ms(
            lambda q: retrieval.document_passages(owner_id=owner_id, question=q, token_budget=DOCUMENT_BUDGET),
            [q for q, _, _ in QUESTIONS],
            args.runs,
        )
        memory_ms = timings_ms(
            lambda q: memory.relevant_memories(person_id=owner_id, question=q, token_budget=MEMORY_BUDGET),
            MEMORY_QUESTIONS,
            args.runs,
        )
        print(f"{len(DOCUMENTS)} documents, {chunks} chunks; {len(FACTS)} memory items; {len(QUESTIONS)} questions")
        print("| retrieval | median ms | p95 ms | target |")
        print("|---|---|---|---|")
        for label, spent in (("documents", documents_ms), ("memory", memory_ms)):
            median, p95 = statistics.median(spent), percentile(spent, 0.95)
            print(f"| {label} | {median:.1f} | {p95:.1f} | ≤ 100 ms: {'met' if p95 <= 100 else 'missed'} |")
        print("\n| ranking | right page first | right page in top 3 |")
        print("|---|---|---|")
        for mode, (first, top3) in hit_rates(owner_id).items():
            print(f"| {mode} | {first:.0%} | {top3:.0%} |")
        floor = knowledge_settings().document_min_score
        print(f"\nQuestions about none of the files given passages (hybrid): {len(UNRELATED)} asked")
        print("| relevance floor | given passages |")
        print("|---|---|")
        for label, min_score in ((f"{floor:g} (KNOWLEDGE_DOCUMENT_MIN_SCORE)", None), ("none", 0.0)):
            print(f"| {label} | {unrelated_given_passages(owner_id, min_score)} |")


if __name__ == "__main__":
    sys.exit(main())
