"""``python -m medbridge.convert``: the convert command on its own."""

from medbridge.convert.cli import convert_command

if __name__ == "__main__":
    convert_command()
