"""The progress bar every long command shows: counts, rate and time left, terminals only."""

from __future__ import annotations

import io

from rich.console import Console

from medbridge.console import progress_bar


class TestProgressBar:
    def test_terminal_shows_counts_rate_and_time_left(self):
        """On a terminal the bar says done/total, items per second and time remaining."""
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=120)
        with progress_bar(console) as bar:
            task = bar.add_task("sending", total=10)
            for _ in range(4):
                bar.advance(task)
        text = out.getvalue()
        assert "sending" in text and "4/10" in text and "/s" in text

    def test_pipe_stays_quiet(self):
        """Piped (not a terminal), nothing is drawn."""
        out = io.StringIO()
        console = Console(file=out, force_terminal=False)
        with progress_bar(console) as bar:
            task = bar.add_task("sending", total=10)
            bar.advance(task)
        assert out.getvalue() == ""
