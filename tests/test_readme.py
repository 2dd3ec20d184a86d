"""The README's promises: its test command is the one CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1].strip()
    assert "pytest" in command
    assert f"```bash\n{command}\n```" in (ROOT / "README.md").read_text()
