"""The README's snippets for the three open doors run as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = {"PyTorch: your own model": "torch", "scikit-learn: an estimator beside Ridge": None,
            "Your own data in a config": None}


def _python_blocks(heading: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"### {heading}\n")
    end = min(i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i > 0)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_readme_snippet_runs(heading, tmp_path, monkeypatch):
    if SECTIONS[heading]:
        torch = pytest.importorskip(SECTIONS[heading])
        from memsim.backends.numba.threads import get_num_threads, set_num_threads

        # torch's and numba's OpenMP pools collide on few cores (memsim.torch docstring): one thread each
        before = torch.get_num_threads(), get_num_threads()
        torch.set_num_threads(1)
        set_num_threads(1)
        request_restore = lambda: (torch.set_num_threads(before[0]), set_num_threads(before[1]))  # noqa: E731
    else:
        request_restore = None
    blocks = _python_blocks(heading)
    assert len(blocks) == 1, heading
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(blocks[0], f"README: {heading}", "exec"), {"__name__": "__readme__"})
    finally:
        if request_restore is not None:
            request_restore()
