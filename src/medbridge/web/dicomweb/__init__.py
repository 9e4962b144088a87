"""DICOMweb (PS3.18) over the archive: QIDO-RS, WADO-RS, STOW-RS and DELETE, one module each.

`router` gathers them; the app mounts it under ``/dicom-web``.
"""

from fastapi import APIRouter

from medbridge.web.dicomweb import delete, qido, stow, wado

__all__ = ["router"]

router = APIRouter()
router.include_router(qido.router)
router.include_router(wado.router)
router.include_router(stow.router)
router.include_router(delete.router)
