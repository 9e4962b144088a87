"""Whether worker processes may be started: what ``spawn`` does to the caller's script.

JPEG-LS and JPEG 2000 slices are decoded in worker processes started with ``spawn``
(``fork`` would copy a process whose other threads may hold locks). A spawned process
first imports the main module of the program that started it, as ``__mp_main__``
(the "safe importing of main module" rule of ``multiprocessing``): a user's script
calling :func:`~medbridge.convert.convert_files` at its top level, without an
``if __name__ == "__main__":`` guard, would run again in every worker, start workers of
its own and fail ("An attempt has been made to start a new process before the current
process has finished its bootstrapping phase"), after converting into the same folder.

:func:`processes_allowed` looks at where the call comes from, once, in the calling
thread: when the main module would be imported again and the call is not inside its
``__main__`` guard, slices are decoded in this process instead (slower, never wrong).
"""

from __future__ import annotations

import ast
import functools
import sys
from types import FrameType, ModuleType

__all__ = ["processes_allowed"]


def processes_allowed(frame: FrameType | None = None) -> bool:
    """Whether a spawned worker can start without re-running the caller's script.

    ``frame`` is where to start looking up the stack (default: the caller's frame).
    Mirrors ``multiprocessing.spawn``: a main module run as ``python -m package`` (its
    name ends in ``.__main__``) or without a file (``-c``, a REPL, a notebook) is not
    imported again; any other is, so the call must sit inside its ``__main__`` guard.
    """
    main = sys.modules.get("__main__")
    if main is None or not _reimported(main):
        return True
    path = getattr(main, "__file__", None)
    current: FrameType | None = frame if frame is not None else sys._getframe(1)
    while current is not None:
        if current.f_globals is vars(main) and current.f_code.co_name == "<module>":
            return bool(path) and _inside_main_guard(str(path), current.f_lineno)
        current = current.f_back
    return True  # the main module finished running: importing it again starts nothing


def _reimported(main: ModuleType) -> bool:
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name is not None:
        return not (name == "__main__" or name.endswith(".__main__"))
    return getattr(main, "__file__", None) is not None


@functools.lru_cache(maxsize=16)
def _guards(path: str) -> tuple[tuple[int, int], ...]:
    """Line ranges of the top-level ``if __name__ == "__main__":`` blocks of a script."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return ()
    ranges = []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
    return tuple(ranges)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, *test.comparators]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def _inside_main_guard(path: str, line: int) -> bool:
    return any(start < line <= end for start, end in _guards(path))
