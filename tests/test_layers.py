"""Import layering (DESIGN.md): what `import memsim` pulls in, and where numba may be imported."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "memsim"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_memsim_is_light():
    mods = _modules_after("import memsim")
    assert "cupy" not in mods and "matplotlib" not in mods
    assert "numba" not in mods  # so no kernel is compiled at import either


def test_numba_imported_only_under_backends_numba():
    pattern = re.compile(r"^\s*(import numba|from numba)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if pattern.search(p.read_text()) and "backends/numba" not in p.as_posix()]
    assert offenders == []


def test_comparison_side_does_not_import_the_simulator():
    forbidden = re.compile(r"^\s*(from|import)\s+(memsim\.|\.+)(crossbar|backends|training|models|networks|train_network)\b",
                           re.M)
    for name in ("baselines.py", "analysis.py", "analysis_jitter.py", "analysis_cells.py", "digital_networks.py",
                 "mlp_math.py"):
        path = ROOT / name
        if path.exists():
            assert not forbidden.search(path.read_text()), name
