"""The de-identification options as one click decorator, shared by every command.

``medbridge anonymize``, ``medbridge convert --deidentify`` and ``medbridge archive export
--anonymize`` take the same option names and build the same :class:`Policy` from them, so
files, conversion outputs and archive exports are de-identified the same way (issue 6)
and one key file links them all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from medbridge.console import make_console
from medbridge.deid.policy import DateMode, PixelRegion, Policy

__all__ = ["policy_options"]

_MIN_KEY_BYTES = 16

_OPTIONS = (
    click.option("--keep-uids", is_flag=True, help="Retain UIDs Option (E.3.9)."),
    click.option(
        "--keep-dates", "dates", flag_value="keep", help="Retain Full Dates Option (E.3.6)."
    ),
    click.option(
        "--shift-dates",
        "dates",
        flag_value="shift",
        help="Retain Modified Dates Option: shift dates by a keyed per-patient offset (E.3.6).",
    ),
    click.option(
        "--keep-patient-characteristics",
        is_flag=True,
        help="Retain Patient Characteristics (E.3.3).",
    ),
    click.option("--keep-device", is_flag=True, help="Retain Device Identity Option (E.3.4)."),
    click.option(
        "--keep-institution", is_flag=True, help="Retain Institution Identity Option (E.3.5)."
    ),
    click.option(
        "--keep-safe-private",
        is_flag=True,
        help="Retain Safe Private Option (E.3.10): keep the vendor fields conversion needs.",
    ),
    click.option("--clean-descriptors", is_flag=True, help="Clean Descriptors Option (E.3.11)."),
    click.option(
        "--clean-structured-content",
        is_flag=True,
        help="Clean Structured Content Option (E.3.12).",
    ),
    click.option("--clean-graphics", is_flag=True, help="Clean Graphics Option (E.3.13)."),
    click.option(
        "--mask",
        "masks",
        multiple=True,
        metavar="X,Y,W,H",
        help="Blank this pixel region in every frame (Clean Pixel Data, E.3.1); repeatable.",
    ),
    click.option(
        "--key",
        "key_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="File holding the secret key: same key, same UIDs and date offsets in every run.",
    ),
)
_NAMES = (
    "keep_uids",
    "dates",
    "keep_patient_characteristics",
    "keep_device",
    "keep_institution",
    "keep_safe_private",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
    "masks",
    "key_file",
)


def policy_options(
    *, switch: str | None = None, switch_help: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the PS3.15 Annex E options; the command receives ``policy: Policy | None``.

    With ``switch`` (e.g. ``"--deidentify"``) the options apply only when that flag is
    given, and ``policy`` is None otherwise; without it ``policy`` is always a Policy.
    Under a switch the option names get a ``--deid-`` prefix only for ``--key``, which
    the PACS commands already use for query keys.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            settings = {name: kwargs.pop(name) for name in _NAMES}
            enabled = kwargs.pop("deid_switch") if switch else True
            kwargs["policy"] = _policy(**settings) if enabled else None
            return func(*args, **kwargs)

        command: Callable[..., Any] = wrapper
        for option in reversed(_options(switch)):
            command = option(command)
        if switch:
            command = click.option(switch, "deid_switch", is_flag=True, help=switch_help)(command)
        return command

    return decorate


def _options(switch: str | None) -> tuple[Callable[..., Any], ...]:
    if not switch:
        return _OPTIONS
    deid_key = click.option(
        "--deid-key",
        "key_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="De-identification key file: same key, same pseudonyms as `anonymize --key`.",
    )
    return (*_OPTIONS[:-1], deid_key)


def _policy(
    *,
    keep_uids: bool,
    dates: str | None,
    keep_patient_characteristics: bool,
    keep_device: bool,
    keep_institution: bool,
    keep_safe_private: bool,
    clean_descriptors: bool,
    clean_structured_content: bool,
    clean_graphics: bool,
    masks: tuple[str, ...],
    key_file: Path | None,
) -> Policy:
    try:
        regions = tuple(PixelRegion.parse(m) for m in masks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mask") from exc
    date_mode: DateMode = "keep" if dates == "keep" else "shift" if dates == "shift" else "remove"
    settings: dict[str, Any] = dict(
        dates=date_mode,
        retain_uids=keep_uids,
        retain_device_identity=keep_device,
        retain_institution_identity=keep_institution,
        retain_patient_characteristics=keep_patient_characteristics,
        retain_safe_private=keep_safe_private,
        clean_descriptors=clean_descriptors,
        clean_structured_content=clean_structured_content,
        clean_graphics=clean_graphics,
        pixel_mask=regions,
    )
    key = _read_key(key_file)
    return Policy(key=key, **settings) if key else Policy(**settings)


def _read_key(path: Path | None) -> bytes:
    if path is None:
        make_console(stderr=True).print(
            "[yellow]no key file: a random key is used; UIDs and dates will not match other runs[/]"
        )
        return b""
    key = path.read_bytes().strip()
    if len(key) < _MIN_KEY_BYTES:
        raise click.BadParameter(
            f"the key file holds {len(key)} bytes; use at least {_MIN_KEY_BYTES} random bytes "
            "(e.g. `head -c 32 /dev/urandom | base64 > key`)",
            param_hint="--key",
        )
    return key
