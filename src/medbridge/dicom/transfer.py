"""What moving instances between peers reports, whatever the protocol.

`medbridge.dimse.scu` (C-STORE, C-GET, C-MOVE) and `medbridge.web.client` (STOW-RS,
WADO-RS) return the same results, so the command line prints and exits alike over
either; they live here, below both doors, so neither door imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RetrieveResult", "SendResult", "dicom_files"]


@dataclass
class SendResult:
    """What `send` did: instances accepted, (path, reason) of each failure, and of each
    instance accepted with a warning status."""

    sent: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class RetrieveResult:
    """Sub-operation counts of a C-MOVE or C-GET (PS3.4 C.4.2.1.5), and files received."""

    status: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int = 0
    received: list[Path] = field(default_factory=list)
    text: str = ""
    """The final status for people (`status_text`), with the peer's Error Comment."""

    @property
    def total(self) -> int:
        """Sub-operations announced so far (done and remaining)."""
        return self.completed + self.failed + self.warning + self.remaining


def dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield the files under each path (folders recursively), sorted, hidden ones skipped."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path
