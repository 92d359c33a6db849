"""The transition benchmark runs (``--quick``, SQLite only) and ends with its JSON figures.

Only that it runs and what it prints is checked: its targets are never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_fire_quick_prints_json_last() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_fire.py"), "--quick", "--no-postgres", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == {"sqlite", "postgresql", "peer"}
    sqlite = figures["sqlite"]
    assert sqlite["fires_per_s"] > 0 and sqlite["ceiling_per_s"] > 0
    assert sqlite["ratio"] == pytest.approx(sqlite["fires_per_s"] / sqlite["ceiling_per_s"], abs=0.01)
    assert sqlite["same_rows"] is True
    assert figures["postgresql"] is None
    assert figures["peer"]["sqlite_per_s"] > 0 and figures["peer"]["speedup"] > 0
