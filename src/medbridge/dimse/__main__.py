"""``python -m medbridge.dimse``: the PACS commands until the main CLI registers them."""

from __future__ import annotations

import click

from medbridge.dimse.cli import archive, echo, find, get, move, send, serve


@click.group()
def main() -> None:
    """medbridge PACS commands: serve, echo, send, find, move, get, archive."""


for command in (serve, echo, send, find, move, get, archive):
    main.add_command(command)

if __name__ == "__main__":
    main()
