"""Synthetic patients for demos, tests and benchmarks (never real people).

Each demo record goes through the same :class:`~kiosk.session.ConsentSession` and
:meth:`~kiosk.services.KioskServices.save` as a patient at the kiosk, so it is validated,
hashed and stored exactly like a real one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from consent_records.model import Decision, ScreeningAnswerValue, SignatureMethod
from kiosk.services import KioskServices, SavedConsent
from kiosk.session import ConsentSession, SignatureInput, parse_about, parse_substitute

FIRST_NAMES = [
    "Renée", "François", "Zoë", "Amélie", "Jérôme", "Hélène", "Noé", "Chloé", "Maël", "Inès",
    "Olivia", "Liam", "Priya", "Wei", "Aiyana", "Mateo", "Fatima", "Kofi", "Siobhán", "Björn",
    "Anaïs", "Léa", "Théo", "Gaëlle", "Yusuf", "Mei", "Dmitri", "Nadia", "Tomás", "Ngozi",
]  # fmt: skip
LAST_NAMES = [
    "Bélanger-Côté", "Lefèvre", "Ångström", "Tremblay", "Gagnon", "Roy", "Bouchard", "Gauthier",
    "Morin", "Lavoie", "Fortin", "Gagné", "Ouellet", "Pelletier", "Bergeron", "Lévesque",
    "Nguyen", "Singh", "O'Connor", "MacDonald", "Kowalski", "Okafor", "Haddad", "Chen",
    "Desjardins", "Thériault", "Côté", "Mercier", "Paré", "Dubé",
]  # fmt: skip
RELATIONSHIPS = ["mother", "father", "legal guardian", "grandmother", "aunt"]
DEMO_KIOSK_ID = "demo"
"""Every synthetic record carries this kiosk id, so it can never pass for a patient's."""
DEMO_MARKER = "DEMO-DATA.txt"
"""Written in a data directory that demo has filled."""


def synthetic_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _signature_strokes(rng: random.Random) -> tuple[tuple[tuple[float, float], ...], ...]:
    """A wavy, signature-like scribble in a 60 x 6 cell pad."""
    strokes = []
    x = 3.0
    for _stroke in range(rng.randint(1, 3)):
        points = []
        for _step in range(rng.randint(12, 30)):
            x = min(x + rng.uniform(0.4, 1.6), 58.0)
            y = 3.0 + 2.2 * rng.uniform(-1, 1)
            points.append((round(x, 2), round(y, 2)))
        strokes.append(tuple(points))
        x = min(x + 2, 55.0)
    return tuple(strokes)


def fill_session(
    session: ConsentSession, rng: random.Random, *, decision: Decision | None = None
) -> SignatureInput:
    """Answer every step of ``session`` as a (random) patient would."""
    settings = session.settings
    bundle = session.content.bundle
    today = session.clock().date()
    age_days = rng.randint(12 * 365, 90 * 365)
    born = today - timedelta(days=age_days)
    born = date(born.year, born.month, min(born.day, 28))
    # Through the same parsing and checks as the screens, so demo data is never
    # something a patient could not have entered.
    chart = f"C-{rng.randint(10000, 99999)}" if rng.random() < 0.6 else ""
    # Who fills it in is a free choice, never forced by age: some young patients do it
    # themselves (and are flagged for the physiotherapist), some with a parent.
    young = age_days < 18 * 365
    session.set_filled_in_by("substitute" if rng.random() < (0.5 if young else 0.03) else "patient")
    session.set_about(
        parse_about(
            full_name=synthetic_name(rng),
            year=str(born.year),
            month=str(born.month),
            day=str(born.day),
            chart_number=chart,
            physiotherapist_id=rng.choice(settings.physiotherapists).id,
            today=today,
            known_physiotherapists={p.id for p in settings.physiotherapists},
            voice=session.voice,
        )
    )
    if session.needs_substitute:
        session.substitute = parse_substitute(synthetic_name(rng), rng.choice(RELATIONSHIPS))
    for section in bundle.sections:
        session.enter_section(section.id)
        session.section_end_reached(section.id)
        session.leave_section(section.id)
    for question in bundle.quiz:
        if rng.random() < 0.2:
            wrong = [o.id for o in question.options if o.id != question.correct]
            session.answer_quiz(question.id, rng.choice(wrong))
        session.answer_quiz(question.id, question.correct)
    for screening in session.shown.screening:
        roll = rng.random()
        session.screening[screening.id] = (
            ScreeningAnswerValue.YES
            if roll < 0.08
            else ScreeningAnswerValue.NOT_SURE
            if roll < 0.12
            else ScreeningAnswerValue.NO
        )
    session.decision = (
        decision
        or rng.choices([Decision.AGREE, Decision.DECLINE, Decision.DISCUSS], weights=[7, 1, 2])[0]
    )
    session.statements = {s.id for s in bundle.statements}
    problem = session.decision_problem(session.decision, session.statements)
    assert problem is None, problem
    drawn = rng.random() < 0.75
    signature = SignatureInput(
        typed_name=session.signer_name,
        method=SignatureMethod.DRAWN if drawn else SignatureMethod.TYPED,
        strokes=_signature_strokes(rng) if drawn else (),
        pad_width=60 if drawn else 0,
        pad_height=6 if drawn else 0,
    )
    session.check_signature(signature)
    return signature


def generate(
    services: KioskServices, count: int, *, seed: int | None = None
) -> Iterator[tuple[SavedConsent, str]]:
    """Save ``count`` synthetic records; yield each one's saved reference and name."""
    rng = random.Random(seed)
    decisions = list(Decision)
    demo_settings = services.settings.model_copy(update={"kiosk_id": DEMO_KIOSK_ID})
    for index in range(count):
        session = services.new_session()
        session.settings = demo_settings
        # Cycle through all decisions first so even a small demo shows each one.
        chosen = decisions[index] if index < len(decisions) else None
        signature = fill_session(session, rng, decision=chosen)
        saved = services.save(session, signature)
        assert session.about is not None
        yield saved, session.about.full_name
