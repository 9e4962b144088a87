"""Rich consoles for the command line that never crop or wrap piped output.

Rich wraps at 80 columns when it is not writing to a terminal, which splits file paths
across lines and breaks ``grep``. Every command builds its consoles here so piped
output keeps whole lines while terminals keep their normal layout; long commands show
the same progress bar (`progress_bar`), on terminals only.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["make_console", "progress_bar"]

_PIPE_WIDTH = 10_000


def make_console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A console on stdout (or stderr) that keeps whole lines when piped."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else _PIPE_WIDTH
    return Console(stderr=stderr, quiet=quiet, highlight=False, soft_wrap=True, width=width)


class _RateColumn(ProgressColumn):
    """Items per second (rich's TransferSpeedColumn counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def progress_bar(console: Console, *, transient: bool = False) -> Progress:
    """The bar of every long command: what, bar, done/total, rate, time left.

    Shown only when `console` is a terminal (``disable`` otherwise), so piped output and
    logs stay clean; a task added with ``total=None`` shows a count and rate only.
    """
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not console.is_terminal or console.quiet,
    )
