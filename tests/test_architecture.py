"""The layering rules of DEVELOPERS' guide, enforced rather than only written down."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADLESS = ("content", "consent_records")


def loaded_after(code: str) -> set[str]:
    """Every module in ``sys.modules`` after running ``code`` in a fresh Python."""
    probe = f"{code}\nimport sys\nprint(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(ast.literal_eval(result.stdout.strip()))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", HEADLESS)
def test_headless_packages_never_import_textual_in_source(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & {"textual", "screens", "kiosk"})
        for path in (ROOT / package).rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, f"content/ and consent_records/ must not import these: {offenders}"


def test_importing_every_headless_module_loads_no_textual() -> None:
    """Import each module for real (lazy imports included) and check sys.modules."""
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in HEADLESS
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    imports = "import importlib\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in modules
    )
    bad = sorted(m for m in loaded_after(imports) if m.split(".")[0] in {"textual", "screens"})
    assert bad == []


def test_screens_never_reach_storage_or_pdf() -> None:
    offenders = {}
    for path in (ROOT / "screens").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # "from consent_records import store" names the module in its alias.
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.ImportFrom):
                names = [f".{alias.name}" for alias in node.names]  # relative: never allowed
            bad = [
                n
                for n in names
                if n.split(".")[0] in {"tinydb", "reportlab", "filelock"}
                or n.startswith(
                    ("consent_records.store", "consent_records.pdf", "consent_records.storage")
                )
                or n.startswith(".")
            ]
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"screens go through kiosk services: {offenders}"


def test_kiosk_start_path_does_not_load_heavy_modules() -> None:
    """Importing the app must not import reportlab or the PDF code (they load on first use)."""
    loaded = loaded_after("import kiosk.app, kiosk.cli, kiosk.services, consent_records.store")
    heavy = sorted(
        m
        for m in loaded
        if m.split(".")[0]
        in {
            "reportlab",
            "pypdf",
            "cryptography",
            "psycopg",
            "psycopg_pool",
            "pyhanko",
            "pyhanko_certvalidator",
            "asn1crypto",
        }
        or m
        in {
            "consent_records.pdf",
            "consent_records.pg.engine",
            "consent_records.sealing",
            "consent_records.sealkeys",
            "consent_records.seal_block",
        }
    )
    assert heavy == []


START_PATH_PROBE = """
import sys, threading
import kiosk.cli as cli
from textual.app import App

gate = threading.Event()
real = cli._services


def gated(args):
    gate.wait(30)  # the start-up worker waits until Welcome has been looked at
    return real(args)


cli._services = gated
run = App.run
seen = {}


def headless(self, *args, **kwargs):
    async def look(pilot):
        await pilot.pause()
        seen["screen"] = type(pilot.app.screen).__name__
        seen["modules"] = sorted(sys.modules)
        gate.set()
        pilot.app.exit()

    return run(self, headless=True, size=(80, 24), auto_pilot=look)


App.run = headless
cli.main(sys.argv[1:])
print(repr((seen["screen"], seen["modules"])))
"""


def test_welcome_is_painted_before_settings_content_store_or_signing_load(
    tmp_path: Path,
) -> None:
    """The kiosk's real start path (``ims-kiosk`` -> cmd_run), stopped as Welcome shows:
    no pydantic, settings validation, content, record store, PDF, signing or database
    module has been imported yet (they load in the worker once Welcome is on screen)."""
    done = subprocess.run(
        [sys.executable, "-c", START_PATH_PROBE, "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    screen, modules = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert screen == "WelcomeScreen"
    heavy = {
        "pydantic", "yaml", "tinydb", "reportlab", "pyhanko", "cryptography", "psycopg",
        "content", "consent_records",
    }  # fmt: skip
    loaded = sorted(m for m in modules if m.split(".")[0] in heavy)
    assert loaded == []
    assert "kiosk.settings" not in modules and "kiosk.services" not in modules
