"""What a new user meets first: the README's commands and an unbuilt source tree."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="needs the source tree")


def test_readme_gives_exactly_two_commands_that_run_on_every_supported_python():
    blocks = re.findall(r"```sh\n(.*?)\n```", README.read_text(), re.S)
    assert len(blocks) == 2
    install, tests = (b.strip() for b in blocks)
    # -P exists only from 3.11; -I keeps the tree off sys.path from 3.4 on.
    for command in (install, tests):
        assert "\n" not in command and " -P " not in command
    assert install.startswith("python3 -m pip install .") and "sysvshm" in install
    assert "pytest" in tests


def test_importing_the_unbuilt_source_tree_says_what_to_do(tmp_path):
    # A copy of the package's Python sources, without the compiled modules.
    tree = tmp_path / "sysvshm"
    shutil.copytree(ROOT / "sysvshm", tree,
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", "import sysvshm"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: sysvshm is being imported from its source tree")
    assert "pip install ." in last
    assert "sysvshm._buffer" not in result.stderr  # not the bare ModuleNotFoundError
