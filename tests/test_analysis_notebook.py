"""analysis/rollouts.ipynb runs top to bottom on the fixture run (nbclient, the venv's kernel)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "analysis" / "rollouts.ipynb"
FIXTURE = Path(__file__).parent / "data" / "analysis_run"


def test_notebook_executes_on_the_fixture_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run, ignore=shutil.ignore_patterns("*.py"))
    monkeypatch.setenv("ANALYSIS_RUN_DIR", str(run))
    monkeypatch.setenv("ANALYSIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernelspec's "python" is replaced by this interpreter (the venv's).
    client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "\n".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    assert "responses in 6 files; lengths in words" in text
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 5  # four curve figures and the metrics figure
    html_blobs = "\n".join(out["data"]["text/html"] for out in outputs if "text/html" in out.get("data", {}))
    assert '<mark class="hl-final_verify"' in html_blobs and "same prompt" in text
    assert sys.executable  # the kernel ran under this interpreter (jupyter_client substitutes "python")
