"""Exit statuses shared by every ``medbridge`` command, so scripts can tell outcomes apart."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """What a command's exit status means.

    ``PARTIAL`` is distinct from ``ERROR`` because a folder of 10,000 files with one bad
    file is a success for most purposes: the script can go on and read the report.
    """

    OK = 0
    ERROR = 1  # nothing could be done: no input read, or a fatal problem
    USAGE = 2  # bad command line (click's own status)
    PARTIAL = 3  # done, but some inputs were skipped or read with warnings
    INCOMPLETE = 4  # done, but some outputs are incomplete (e.g. missing slices)
