"""UIH (United Imaging) sidecar fields.

UIH time series store no slice-time table; as for Siemens classic images, dcm2niix takes
each slice's (0008,0032) 'Acquisition Time' (see :mod:`medbridge.convert._slicetime`),
for time series only.
"""

from __future__ import annotations

from medbridge.convert._context import OutputContext
from medbridge.convert._sidecar import Sidecar
from medbridge.convert._slicetime import acquisition_slice_times

__all__ = ["fields"]


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the UIH-only fields."""
    if ctx.n_volumes > 1 and not ctx.group.enhanced and not ctx.group.mosaic:
        car.set(
            "SliceTiming",
            acquisition_slice_times(ctx.plan.frames[0]),
            "(0008,0032) 'Acquisition Time' of each slice",
        )
