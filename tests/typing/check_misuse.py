"""Run mypy --strict and pyright on misuse.py: each checker must report an error
on exactly the lines marked "# error" there (so the stubs reject what they should)."""
import json
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
MISUSE = HERE / "misuse.py"


def marked():
    lines = MISUSE.read_text().splitlines()
    return {n for n, line in enumerate(lines, 1) if re.search(r"#\s*error\b", line)}


def mypy_lines():
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                          "--hide-error-context", str(MISUSE)], capture_output=True, text=True)
    return {int(m.group(1)) for m in re.finditer(r"misuse\.py:(\d+): error", out.stdout)}


def pyright_lines():
    out = subprocess.run(["pyright", "--outputjson", str(MISUSE)], capture_output=True, text=True)
    report = json.loads(out.stdout)
    return {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"]
            if d["severity"] == "error"}


def main():
    expected = marked()
    assert expected, "misuse.py marks no line"
    failed = False
    for name, found in (("mypy", mypy_lines()), ("pyright", pyright_lines())):
        missed, extra = sorted(expected - found), sorted(found - expected)
        if missed or extra:
            failed = True
            print(f"{name}: not reported on lines {missed}; unexpected errors on lines {extra}")
        else:
            print(f"{name}: reports exactly the {len(expected)} marked lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
