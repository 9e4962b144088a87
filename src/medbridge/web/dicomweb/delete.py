"""DELETE of a study, a series or an instance (admins only).

PS3.18 leaves removal out of DICOMweb; dcm4chee and Orthanc offer it at the resource's
own URL, and dicomweb-client's ``delete_study``/``delete_series``/``delete_instance`` call
these. The index rows go first, in one transaction, then the files
(`Archive.delete_matching`); emptied series, studies and patients go with their last
instance. Who deleted what is logged at WARNING, since nothing else records it.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from medbridge.archive import Archive, is_valid_uid
from medbridge.archive.locate import locate
from medbridge.errors import NotFoundError, QueryError
from medbridge.server.config import Role
from medbridge.web.access import require
from medbridge.web.dicomweb._resources import derived_of

__all__ = ["router"]

LOGGER = logging.getLogger(__name__)
StudyUID = Annotated[str, Path(description="Study Instance UID (0020,000D)")]
SeriesUID = Annotated[str, Path(description="Series Instance UID (0020,000E)")]
InstanceUID = Annotated[str, Path(description="SOP Instance UID (0008,0018)")]

router = APIRouter(tags=["DELETE"], dependencies=[Depends(require(Role.ADMIN))])

_RESPONSES: dict[int | str, dict[str, str]] = {
    204: {"description": "Deleted: index rows and files are gone."},
    400: {"description": "A malformed UID in the URL."},
    401: {"description": "A bearer token is required."},
    403: {"description": "Only an admin token may delete."},
    404: {"description": "No such study, series (of that study) or instance."},
}


@router.delete(
    "/studies/{study}",
    status_code=204,
    response_class=Response,
    responses=_RESPONSES,
    summary="Delete a study",
)
def delete_study(request: Request, study: StudyUID) -> Response:
    """Remove every instance of a study."""
    return _delete(request, StudyInstanceUID=study)


@router.delete(
    "/studies/{study}/series/{series}",
    status_code=204,
    response_class=Response,
    responses=_RESPONSES,
    summary="Delete a series",
)
def delete_series(request: Request, study: StudyUID, series: SeriesUID) -> Response:
    """Remove every instance of a series of a study."""
    return _delete(request, StudyInstanceUID=study, SeriesInstanceUID=series)


@router.delete(
    "/studies/{study}/series/{series}/instances/{instance}",
    status_code=204,
    response_class=Response,
    responses=_RESPONSES,
    summary="Delete an instance",
)
def delete_instance(
    request: Request, study: StudyUID, series: SeriesUID, instance: InstanceUID
) -> Response:
    """Remove one instance."""
    return _delete(
        request, StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=instance
    )


def _delete(request: Request, **uids: str) -> Response:
    for keyword, uid in uids.items():
        if not is_valid_uid(uid):
            raise QueryError(f"malformed {keyword} {uid!r} in the URL")
    archive: Archive = request.app.state.archive
    deleted = archive.delete_matching(tuple(uids.items()))
    caller = getattr(request.state, "caller", "anonymous")
    what = ", ".join(f"{k} {v}" for k, v in uids.items())
    LOGGER.warning("DELETE by %s: %s (%d instances)", caller, what, len(deleted))
    study = uids["StudyInstanceUID"]
    try:
        locate(archive, study)
    except NotFoundError:  # the study's last instance went: its derived files go too
        derived_of(request).remove_study(study)
    return Response(status_code=204)
