"""Names in the clinic's settings reach every screen and PDF: a terminal escape or a direction
override in them is refused with a sentence naming the field, never sent to the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clinic.name", "Evil \\u001b]52;c;SGVsbG8=\\u0007 Clinic"),
        ("clinic.name", "Riverbend \\u202eyparehtoisyhP"),
        ("clinic.address.0", "100 Example\\u0000 Street"),
        ("physiotherapists.0.name", "Alex \\u001b[2J Kim"),
    ],
)
def test_a_control_character_in_a_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    clinic = {"name": "Riverbend Physiotherapy", "address": ["100 Example Street"]}
    physio = {"id": "akim", "name": "Alex Kim"}
    where, _, rest = field.partition(".")
    if where == "clinic":
        if rest == "name":
            clinic["name"] = value
        else:
            clinic["address"] = [value]
    else:
        physio["name"] = value
    address = ", ".join(f'"{line}"' for line in clinic["address"])
    config = tmp_path / "clinic.toml"
    config.write_text(
        f'[clinic]\nname = "{clinic["name"]}"\naddress = [{address}]\n\n'
        f'[[physiotherapists]]\nid = "{physio["id"]}"\nname = "{physio["name"]}"\n',
        encoding="utf-8",
    )
    code = main(["verify", "--config", str(config), "--data-dir", str(tmp_path / "data")])
    out, err = capsys.readouterr()
    assert code == 2
    assert field in err and "control or invisible character" in err, err
    assert "\x1b" not in out + err and "Traceback" not in err


def test_names_in_any_script_are_kept(tmp_path: Path) -> None:
    from kiosk.settings import Settings

    names = [
        "Clinique Évangéline",
        "Clinique E\u0301vange\u0301line",  # decomposed accents
        "مركز العلاج الطبيعي",
        "理学療法クリニック",
        "Ngā Hau e Whā",
    ]
    for name in names:
        assert Settings.model_validate({"clinic": {"name": name}}).clinic.name == name
