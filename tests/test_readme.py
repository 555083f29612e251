"""README's Python examples run and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_python_blocks_print_what_they_promise(i):
    code = BLOCKS[i]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README block {i}", "exec"), {"__name__": f"readme_{i}"})
    printed = out.getvalue().splitlines()
    # Each print(...) line's trailing comment gives the start of what it prints.
    promised = [m.group(1).split(",")[0].rstrip(".") for m in re.finditer(r"^print\(.*\)\s+#\s*(\S.*)$", code, re.M)]
    assert len(printed) >= len(promised)
    for want, got in zip(promised, printed):
        if want[:1].isdigit() or want in ("True", "False"):
            assert got.startswith(want), (want, got)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 2
