"""FHIR R4 under ``/fhir``: ImagingStudy, Patient and Endpoint from the archive's index."""

from medbridge.web.fhir.routes import install

__all__ = ["install"]
