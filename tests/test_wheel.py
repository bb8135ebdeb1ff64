"""The wheel holds the package and its migrations, and nothing from `tests/`.

Built the way pip builds it (the `hatchling` backend), so what is checked is what users install.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("mcptasks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_has_the_package_and_its_migrations(wheel_names: list[str]) -> None:
    assert "mcptasks/__init__.py" in wheel_names
    assert "mcptasks/testing/__init__.py" in wheel_names
    assert any(name.startswith("mcptasks/migrations/versions/") for name in wheel_names)


def test_the_wheel_has_no_test_fixture(wheel_names: list[str]) -> None:
    # The conformance fixture (about 40 tools registered at import) serves the tests only.
    assert not [name for name in wheel_names if "conformance" in name or name.startswith("tests/")]
    assert "mcptasks/testing/conformance.py" not in wheel_names
