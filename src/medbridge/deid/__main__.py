"""``python -m medbridge.deid``: the ``anonymize`` command until the main CLI registers it."""

from medbridge.deid.cli import anonymize_command

if __name__ == "__main__":
    anonymize_command(prog_name="python -m medbridge.deid")
