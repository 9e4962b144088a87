"""Rich consoles for the command line that never crop or wrap piped output.

Rich wraps at 80 columns when it is not writing to a terminal, which splits file paths
across lines and breaks ``grep``. Every command builds its consoles here so piped
output keeps whole lines while terminals keep their normal layout.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["make_console"]

_PIPE_WIDTH = 10_000


def make_console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A console on stdout (or stderr) that keeps whole lines when piped."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else _PIPE_WIDTH
    return Console(stderr=stderr, quiet=quiet, highlight=False, soft_wrap=True, width=width)
