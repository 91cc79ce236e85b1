"""docs/testing-operators.md runs as written: every ``<!-- file: NAME -->`` block is copied into an empty
project, pytest runs there with ``--sampan-crds crds``, and the standalone example runs with python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.testing.project import Project, passed

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-operators.md"
BLOCK = re.compile(r"<!-- file: (?P<name>[^ ]+) -->\n```[a-z]*\n(?P<body>.*?)```", re.S)


def doc_files() -> dict[str, str]:
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(DOC.read_text())}


def test_doc_has_the_promised_examples() -> None:
    names = set(doc_files())
    assert {"test_configmap.py", "test_watch.py", "test_operator.py", "widget_operator.py", "crds/widgets.yaml",
            "test_deployment.py", "standalone.py"} <= names


def test_doc_examples_pass(tmp_path: Path) -> None:
    project = Project(tmp_path)
    files = doc_files()
    standalone = files.pop("standalone.py")
    project.write(files)
    result = project.run("--sampan-crds", "crds")
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) == sum(1 for name in files if name.startswith("test_"))
    script = project.root / "standalone.py"
    script.write_text(standalone)
    run = subprocess.run([sys.executable, str(script)], cwd=project.root, env=project.env(), capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "standalone examples passed" in run.stdout
    assert project.leftover_dirs() == []
    assert project.leftover_processes() == []
