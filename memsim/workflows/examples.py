"""The example configurations shipped in the package, and the ``memsim examples`` command.

The examples live in ``memsim/examples/<name>/`` (package data), described by
``memsim/examples/examples.toml``: per example a one-line ``summary``, the ``run`` command that runs it
from its own folder, and its ``files`` (each a copy of a repository file: ``experiments/*/*.toml`` or a
data file of ``data/``). ``memsim examples`` lists them; ``memsim examples copy NAME DIR`` copies one,
with every data file it reads, into ``DIR``, where it runs as it is (relative paths in a config are
read from the config's folder).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..params import invalid
from .config import load_toml
from .outputs import OutputError

__all__ = ["Example", "list_examples", "example_path", "copy_example", "add_examples_arguments",
           "examples_main"]

#: Folder of the examples inside the ``memsim`` package.
EXAMPLES_FOLDER = "examples"
#: The manifest of the examples, inside ``EXAMPLES_FOLDER``.
MANIFEST = "examples.toml"


@dataclass(frozen=True)
class Example:
    """One shipped example.

    Parameters
    ----------
    name : str
        The example's name (its folder in ``memsim/examples/``).
    summary : str
        One line saying what it is.
    run : str
        The command that runs it from the folder it was copied to.
    files : dict of str to str
        File name in the example folder -> the repository file it is a copy of (``""``: none).
    """

    name: str
    summary: str
    run: str
    files: dict[str, str]

    @property
    def folder(self) -> Path:
        """The example's folder inside the installed package."""
        return _root() / self.name


def _root() -> Path:
    """The ``memsim/examples`` folder of the installed package."""
    return Path(str(resources.files("memsim").joinpath(EXAMPLES_FOLDER)))


def list_examples() -> dict[str, Example]:
    """Every shipped example, by name (sorted).

    Returns
    -------
    dict of str to Example
        The examples of ``memsim/examples/examples.toml``.
    """
    doc = load_toml(_root() / MANIFEST)
    return {name: Example(name=name, summary=str(entry["summary"]), run=str(entry["run"]),
                          files={str(k): str(v) for k, v in entry["files"].items()})
            for name, entry in sorted(doc.items())}


def _get(name: str) -> Example:
    """The example ``name``; a clear error listing the available ones otherwise."""
    examples = list_examples()
    if name not in examples:
        raise invalid("memsim examples", "name", "one of " + ", ".join(repr(n) for n in examples), name)
    return examples[name]


def example_path(name: str, file: str | None = None) -> Path:
    """The path of an example's file (default: its first file, the config) in the installed package.

    Parameters
    ----------
    name : str
        The example's name (see :func:`list_examples`).
    file : str, optional
        One of the example's files; default the first one listed, its configuration.

    Returns
    -------
    pathlib.Path
        The file inside the installed package (read it; copy the example to change it).

    Raises
    ------
    ConfigError
        If ``name`` or ``file`` is not one of the shipped ones.
    """
    example = _get(name)
    if file is None:
        file = next(iter(example.files))
    if file not in example.files:
        raise invalid(f"example {name!r}", "file", "one of " + ", ".join(repr(f) for f in example.files), file)
    return example.folder / file


def copy_example(name: str, target: str | Path, force: bool = False) -> list[Path]:
    """Copy an example, with every file it reads, into the folder ``target``.

    Parameters
    ----------
    name : str
        The example's name (see :func:`list_examples`).
    target : str or pathlib.Path
        The folder to copy into; created if missing. It must be empty unless ``force``.
    force : bool, default False
        Copy into a non-empty folder, replacing the example's files there (other files are kept).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ConfigError
        If ``name`` is not a shipped example (the message lists them).
    OutputError
        If ``target`` is a file, or a non-empty folder and ``force`` is false.
    """
    example = _get(name)
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise OutputError(f"{target} is not empty; choose an empty or new folder, "
                          f"or pass --force to write the files of {name!r} into it")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file in example.files:
        data = (example.folder / file).read_bytes()
        fd, tmp = tempfile.mkstemp(prefix=f".{file}.", suffix=".tmp", dir=target)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target / file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target / file)
    return written


def add_examples_arguments(parser) -> None:
    """Arguments of ``memsim examples [copy NAME DIR [--force]]``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``examples`` subcommand's parser.
    """
    sub = parser.add_subparsers(dest="action")
    cp = sub.add_parser("copy", help="copy one example, with the data files it reads, into a folder")
    cp.add_argument("name", help="example name (see 'memsim examples')")
    cp.add_argument("dir", help="target folder (created; must be empty unless --force)")
    cp.add_argument("--force", action="store_true", help="write into a non-empty folder")


def examples_main(args) -> int:
    """Run ``memsim examples``: list the examples, or copy one.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments (``action``, ``name``, ``dir``, ``force``).

    Returns
    -------
    int
        The exit code (0).
    """
    if getattr(args, "action", None) == "copy":
        example = _get(args.name)
        for path in copy_example(args.name, args.dir, force=args.force):
            print(f"wrote {path}")
        print(f"run it from {args.dir}: {example.run}")
        return 0
    examples = list_examples()
    width = max(len(n) for n in examples)
    for name, example in examples.items():
        print(f"{name:<{width}}  {example.summary}")
        print(f"{'':<{width}}  files: {', '.join(example.files)}; run: {example.run}")
    print(f"\n{len(examples)} examples; 'memsim examples copy NAME DIR' copies one into a folder.")
    return 0
