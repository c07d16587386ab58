import subprocess
import sys


def test_cli_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "driftline.stream", "--help"], capture_output=True, text=True,
        check=True,
    ).stdout
    assert "version" in out
