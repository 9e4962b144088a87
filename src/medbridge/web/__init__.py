"""The HTTP door: DICOMweb (and later FHIR and the web page) over the archive."""

from medbridge.web.app import DICOMWEB_ROOT, create_app
from medbridge.web.door import HttpDoor, start

__all__ = ["DICOMWEB_ROOT", "HttpDoor", "create_app", "start"]
