"""Files saved by another office program read exactly as the template the federation sent: a sample re-saved
by LibreOffice as .xlsx and as an old binary .xls gives the same cells, the same outcome, the same figures'
inputs. (WPS writes the same two formats.) Skipped where LibreOffice is not installed; `.ci/run` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from defects import copy_sample
from test_exact_numbers import ABOVE_2_23, _give_amount_above_2_23

from union_stats import checking, discover, parse, pseudonym

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
UNITS = ("qu_benji", "shiqiao")  # the district office's file has every detail sheet; a town's has the usual ones


def _resave(source: Path, extension: str, folder: Path) -> Path:
    """`source` opened and saved by LibreOffice in another format, under the same stem."""
    out = folder / extension
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            f"-env:UserInstallation=file://{folder / 'profile'}",
            "--convert-to",
            extension,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out / f"{source.stem}.{extension}"


KEYS = pseudonym.Pseudonymiser(b"the same key for both readings...")  # a person's key is part of the reading


def _cells(path: Path) -> dict[str, pl.DataFrame]:
    """Every sheet as parsed, without what depends on the file's bytes (its id and name)."""
    batch = parse.parse_batch([discover.receive(path)], "2022", keys=KEYS)
    assert batch.findings == [], batch.findings
    return {kind: frame.drop("submission_id", "file_name") for kind, frame in batch.sheets.items()}


@pytest.fixture(scope="module")
def resaved(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("libreoffice")
    made = {}
    for unit in UNITS:
        original = copy_sample(unit, folder / "original")
        for extension in ("xlsx", "xls"):
            converted = _resave(original, extension, folder)
            target = folder / "2022" / f"{unit}_2022_{extension}.{extension}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(converted, target)
            made[unit, extension] = (original, target)
    return made


@pytest.mark.parametrize("extension", ["xlsx", "xls"])
@pytest.mark.parametrize("unit", UNITS)
def test_a_resaved_sample_reads_cell_for_cell_as_the_original(resaved, unit: str, extension: str) -> None:
    original, converted = resaved[unit, extension]
    mine, theirs = _cells(original), _cells(converted)
    assert mine.keys() == theirs.keys()
    for kind in mine:
        assert theirs[kind].equals(mine[kind]), f"{kind} differs after LibreOffice's {extension}"


def test_resaved_samples_pass_the_self_check(resaved) -> None:
    results = checking.check_files([converted for _, converted in resaved.values()])
    assert [(result.status, result.findings) for result in results] == [("accepted", [])] * len(resaved)


def test_an_amount_above_2_23_survives_an_old_xls(tmp_path: Path) -> None:
    path = copy_sample("qu_benji", tmp_path / "original")
    cell, _ = _give_amount_above_2_23(path)
    converted = _resave(path, "xls", tmp_path)
    (tmp_path / "2022").mkdir()
    [result] = checking.check_files([shutil.move(converted, tmp_path / "2022" / "qu_benji_2022.xls")])
    assert result.status == "accepted", result.findings
    cases = _cells(tmp_path / "2022" / "qu_benji_2022.xls")["dispute_cases"]
    row = int(cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    assert cases.filter(pl.col("source_row") == row)["amount_claimed_yuan"].to_list() == [str(ABOVE_2_23)]
