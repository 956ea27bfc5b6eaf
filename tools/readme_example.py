"""Print the README's Python example (for type checking it: tox -e types)."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
print(re.findall(r"```python\n(.*?)\n```", README.read_text(), re.S)[0])
