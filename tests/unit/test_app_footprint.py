"""A charger with no back end does not load the OCPP library (memory and start time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from ukscp.app import build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
app = build_app(Settings(data_dir=sys.argv[1]), VirtualClock())
app.close()
print(sorted(m for m in sys.modules if m == "ocpp" or m.startswith("ocpp.")))
"""


def test_building_a_charger_without_ocpp_leaves_the_ocpp_library_unloaded(tmp_path: Path):
    # A fresh interpreter: this test process has long imported everything.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
