"""medbridge: medical images without islands.

Read DICOM as it is found, convert it to research formats with correct geometry,
de-identify it, and serve it as a PACS. The subpackages are the layers of the design:
``dicom``, ``volume``, ``formats``, ``convert``, ``deid``, ``archive``, ``dimse``, ``web``.
"""

import logging

from medbridge.errors import MedbridgeError

__all__ = ["MedbridgeError", "__version__"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
