"""The signature: captured at the precision the terminal reports (SGR-pixels gives fractions
of a cell), drawn with braille sub-cells on a tall pad that no tooltip covers, stored as
captured, readable in old records, and printed as smooth pen strokes."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdf
import pytest
from textual import events
from textual.pilot import Pilot

from consent_records.model import Point, stroke_precision
from content.loader import load_content
from kiosk.app import KioskApp
from kiosk.services import KioskServices
from screens.signature_pad import SignaturePad
from tests import steps
from tests.factories import make_record, make_stored
from tests.test_pdf import render

Services = Callable[..., KioskServices]


def sub_cell_stroke(start: float = 2.0, n: int = 60) -> list[tuple[float, float]]:
    """A wavy line sampled at quarter- and third-cells, as a pixel-reporting terminal gives."""
    return [(start + i * 0.37, 3.0 + 1.6 * math.sin(i / 6)) for i in range(n)]


async def draw(pilot: Pilot[Any], pad: SignaturePad, stroke: list[tuple[float, float]]) -> None:
    """Press, move and release at exact (fractional) points, like SGR-pixels reports."""
    left, top = pad.gutter.left, pad.gutter.top

    def event(kind: type[events.MouseEvent], x: float, y: float) -> events.MouseEvent:
        return kind(pad, x + left, y + top, 0, 0, 1, False, False, False)

    pad.post_message(event(events.MouseDown, *stroke[0]))
    for point in stroke[1:]:
        pad.post_message(event(events.MouseMove, *point))
    pad.post_message(event(events.MouseUp, *stroke[-1]))
    await pilot.pause()


async def test_sub_cell_strokes_are_kept_as_captured_and_drawn_in_braille(
    make_services: Services,
) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await steps.show(pilot, "sign")
        pad = app.screen.query_one(SignaturePad)
        pad.scroll_visible(animate=False)
        await pilot.pause()
        assert pad.size.height >= 8, "the pad is at least 8 rows tall at 80x24"
        assert pad.tooltip, "an empty pad says how to sign"
        stroke = sub_cell_stroke()
        await draw(pilot, pad, stroke)
        (kept,) = pad.strokes
        flat = [c for point in stroke for c in point]
        assert [c for point in kept for c in point] == pytest.approx(flat), "kept as reported"
        assert pad.tooltip is None, "no tooltip covers the strokes once drawn"

        # Braille: 2x4 dots a cell. Two points in the same cell a quarter-cell apart
        # light different dots.
        rows = [pad.render_line(y).text for y in range(pad.size.height)]
        drawn = "".join(rows)
        assert any(0x2801 <= ord(c) <= 0x28FF for c in drawn)
        assert "Sign here" not in drawn

        # Two strokes a half-cell apart inside one cell light different braille dots.
        pad.strokes = (((1.1, 1.1), (1.2, 1.3)),)
        await pilot.pause()
        left = pad.render_line(1).text[1]
        pad.strokes = (((1.6, 1.1), (1.7, 1.3)),)
        await pilot.pause()
        right = pad.render_line(1).text[1]
        assert left != right and {ord(left), ord(right)} <= set(range(0x2801, 0x2900))

        pad.strokes = (tuple(stroke),)
        screen = app.screen
        signature = screen.signature()  # type: ignore[attr-defined]
        signature = dataclasses.replace(signature, typed_name=steps.NAME)
        assert app.session is not None
        record = app.session.build_record(signature)
    assert record.signature.precision == "pixel"
    stored = [(p.x, p.y) for p in record.signature.strokes[0]]
    assert stored == [(round(x, 3), round(y, 3)) for x, y in stroke], "stored as captured"
    assert record.signature.pad_height >= 8


async def test_the_pad_grows_with_the_window(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=(100, 40)) as pilot:
        await steps.show(pilot, "sign")
        await pilot.pause()
        assert app.screen.query_one(SignaturePad).size.height >= 14


def test_whole_cell_points_are_drawn_at_cell_centres_and_old_records_keep_their_hash() -> None:
    content = load_content("en").bundle
    old = make_record(content, drawn=True)
    assert old.signature.precision is None
    stored_json = old.model_dump_json()
    assert '"precision"' not in stored_json, "a record without it keeps its exact form"
    again = type(old).model_validate_json(stored_json)
    assert again.model_dump_json() == stored_json
    # Old records stored cell centres: drawn as stored.
    first = old.signature.strokes[0][0]
    assert old.signature.drawn_points()[0][0] == (first.x, first.y)

    cell = old.signature.model_copy(
        update={"strokes": [[Point(x=3, y=2), Point(x=4, y=2)]], "precision": "cell"}
    )
    assert cell.drawn_points() == [[(3.5, 2.5), (4.5, 2.5)]]
    assert json.loads(cell.model_dump_json())["precision"] == "cell"
    assert stroke_precision([[(3.0, 2.0)], [(4.0, 1.0)]]) == "cell"
    assert stroke_precision([[(3.0, 2.0), (3.25, 2.0)]]) == "pixel"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_a_sub_cell_signature_prints_as_smooth_unbroken_curves(tmp_path: Path) -> None:
    """Curves (Bézier segments), not a polyline; on the page (as an image) the stroke is
    one unbroken line across its whole width."""
    content = load_content("en").bundle
    record = make_record(content, drawn=True)
    points = [Point(x=round(x, 3), y=round(y, 3)) for x, y in sub_cell_stroke(3.0, 140)]
    signature = record.signature.model_copy(
        update={"strokes": [points], "pad_width": 60, "pad_height": 8, "precision": "pixel"}
    )
    data = render(make_stored(record.model_copy(update={"signature": signature})), content)

    reader = pypdf.PdfReader(io.BytesIO(data))
    page = next(i for i, p in enumerate(reader.pages) if "Signed at" in p.extract_text())
    stream = reader.pages[page].get_contents()
    assert stream is not None
    curves = re.findall(rb"(?:-?[\d.]+ ){6}c\b", stream.get_data())
    assert len(curves) >= 100, "the stroke is drawn as curves through its points"

    # The drawing alone, as an image: between the first and the last inked column
    # (inside the frame) every column holds ink.
    from reportlab.graphics import renderPDF

    from consent_records.pdf import _signature_drawing

    drawing = _signature_drawing(record.model_copy(update={"signature": signature}), 300, 80)
    pdf = tmp_path / "signature.pdf"
    pdf.write_bytes(renderPDF.drawToString(drawing))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-gray", str(pdf), str(tmp_path / "sig")],
        check=True, timeout=60,
    )  # fmt: skip
    width, height, pixels = read_pgm(next(tmp_path.glob("sig*.pgm")).read_bytes())
    frame = 6  # the light frame and its anti-aliasing

    def dark(x: int) -> bool:
        return any(pixels[y * width + x] < 128 for y in range(frame, height - frame))

    inked = [x for x in range(frame, width - frame) if dark(x)]
    assert len(inked) > width / 2, "the stroke spans the box"
    gaps = [b - a for a, b in itertools.pairwise(inked) if b - a > 1]
    assert gaps == [], "the printed stroke is unbroken"


def read_pgm(blob: bytes) -> tuple[int, int, bytes]:
    parts = blob.split(maxsplit=4)
    assert parts[0] == b"P5"
    width, height = int(parts[1]), int(parts[2])
    return width, height, parts[4][-(width * height) :]
