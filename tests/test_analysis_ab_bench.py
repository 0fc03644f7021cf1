"""analysis.ab_bench runs another checkout's feature code beside this one's, in one process."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from analysis.ab_bench import PACKAGES, REPO_ROOT, main, run_ab
from analysis.bench import make_synthetic_dump


def test_each_version_runs_its_own_code_and_the_callers_modules_come_back(tmp_path: Path) -> None:
    base = tmp_path / "base"
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, base / package, ignore=shutil.ignore_patterns("__pycache__"))
    make_synthetic_dump(tmp_path / "dump", responses=20, steps=2)
    before = {name: module for name, module in sys.modules.items() if name.split(".")[0] in PACKAGES}

    same_code = run_ab(base, tmp_path / "dump", rounds=1)
    # the base's scorer, which features.py imports at call time, now judges no answer
    kk = base / "reward_fns" / "kk.py"
    kk.write_text(kk.read_text() + "\n\ndef compute_score(*args, **kwargs):\n    raise GroundTruthError('base')\n")
    other_scorer = run_ab(base, tmp_path / "dump", rounds=1)

    assert Path(same_code["base_code"]).resolve().is_relative_to(base.resolve())
    assert Path(same_code["this_code"]).resolve().is_relative_to(REPO_ROOT)
    assert same_code["files"] == 2 and same_code["responses_per_version"] == 20
    assert same_code["base_us_per_response"] > 0 and same_code["this_us_per_response"] > 0
    assert same_code["same_features"] and not other_scorer["same_features"]
    after = {name: module for name, module in sys.modules.items() if name.split(".")[0] in PACKAGES}
    assert after == before


def test_a_folder_that_is_no_checkout_is_one_error_line(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "--dump", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
