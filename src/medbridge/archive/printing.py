"""Basic Grayscale and Color Print Management held in the index, rendered to PNG and PDF.

PS3.4 H.4 describes the objects a print SCU builds: a Film Session, Film Boxes in it,
and for each film box the Image Boxes its (2010,0010) 'Image Display Format' calls for
(``STANDARD\\C,R``: C columns by R rows). The image boxes get their pixels by N-SET
(a (2020,0110) 'Basic Grayscale Image Sequence' or (2020,0111) 'Basic Color Image
Sequence' item), and an N-ACTION on the film box or session prints. Printing here
renders each film box onto a page of its (2010,0050) 'Film Size ID' in its (2010,0040)
'Film Orientation', each image scaled into its cell by its (2010,0060) 'Magnification
Type' (REPLICATE, BILINEAR, CUBIC; NONE leaves it at its size), and writes the page as
PNG and PDF under ``data_dir/print/``. Objects and pixels are durable before the
request is answered, so a session survives a restart.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from medbridge.archive.storage import validate_uid
from medbridge.archive.workflow_tables import print_film, print_object
from medbridge.errors import ServiceRequestError

if TYPE_CHECKING:
    from medbridge.archive.index import Index

__all__ = ["FILM_SIZES_INCH", "PrintStore", "PrintedFilm", "parse_layout"]

LOGGER = logging.getLogger(__name__)

SESSION, FILM_BOX, IMAGE_BOX = "session", "film_box", "image_box"
GRAYSCALE_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"

#: (2010,0050) 'Film Size ID' defined terms (PS3.3 C.13.8) → (width, height) in inches.
FILM_SIZES_INCH: dict[str, tuple[float, float]] = {
    "8INX10IN": (8, 10),
    "8_5INX11IN": (8.5, 11),
    "10INX12IN": (10, 12),
    "10INX14IN": (10, 14),
    "11INX14IN": (11, 14),
    "11INX17IN": (11, 17),
    "14INX14IN": (14, 14),
    "14INX17IN": (14, 17),
    "24CMX24CM": (24 / 2.54, 24 / 2.54),
    "24CMX30CM": (24 / 2.54, 30 / 2.54),
    "A4": (210 / 25.4, 297 / 25.4),
    "A3": (297 / 25.4, 420 / 25.4),
}
#: Pixels per inch of the rendered page.
DPI = 100

_LAYOUT = re.compile(r"^STANDARD\\(\d{1,2}),(\d{1,2})$")


def parse_layout(value: str) -> tuple[int, int]:
    """(columns, rows) of an Image Display Format ``STANDARD\\C,R`` (PS3.3 C.13.8).

    Raises
    ------
    ServiceRequestError
        0x0106 for another format (ROW, COL, SLIDE, ... are not supported) or 0 cells.
    """
    match = _LAYOUT.match(value.strip().upper())
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ServiceRequestError(
            0x0106, f"(2010,0010) 'Image Display Format' {value!r}: only STANDARD\\C,R"
        )
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class PrintedFilm:
    """A rendered film box, as ``medbridge print list`` shows it."""

    film_box_uid: str
    film_session_uid: str
    calling_ae: str
    layout: str
    orientation: str
    color: bool
    png: Path
    pdf: Path
    images: int
    created_at: datetime

    def summary(self) -> dict[str, Any]:
        """The listing's columns."""
        return {
            "FilmBoxUID": self.film_box_uid,
            "FilmSessionUID": self.film_session_uid,
            "CallingAE": self.calling_ae,
            "ImageDisplayFormat": self.layout,
            "FilmOrientation": self.orientation,
            "Color": self.color,
            "Images": self.images,
            "PNG": str(self.png),
            "PDF": str(self.pdf),
            "CreatedAt": self.created_at.isoformat(),
        }


def _write_durably(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _to_image(item: Dataset) -> Any:
    """A Pillow image from a Basic Grayscale/Color Image Sequence item (native pixels).

    Grayscale of more than 8 bits is scaled to 8 by its bits stored; MONOCHROME1 is
    inverted, so the page shows what the film would.
    """
    from PIL import Image

    try:
        rows, cols = int(item.Rows), int(item.Columns)
        samples = int(item.get("SamplesPerPixel", 1))
        bits = int(item.BitsAllocated)
        stored = int(item.get("BitsStored", bits))
        raw = bytes(item.PixelData)
    except (AttributeError, ValueError, TypeError) as exc:
        raise ServiceRequestError(0x0120, f"image box pixels incomplete: {exc}") from None
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    count = rows * cols * samples
    if bits not in (8, 16) or len(raw) < count * np.dtype(dtype).itemsize:
        raise ServiceRequestError(0x0106, f"image box pixels: {bits} bits, {len(raw)} bytes")
    pixels = np.frombuffer(raw, dtype=dtype, count=count)
    if samples == 3:
        if int(item.get("PlanarConfiguration", 0)) == 1:
            pixels = pixels.reshape(3, rows, cols).transpose(1, 2, 0)
        else:
            pixels = pixels.reshape(rows, cols, 3)
        return Image.fromarray(np.ascontiguousarray(pixels.astype(np.uint8)), "RGB")
    gray = pixels.reshape(rows, cols).astype(np.float64)
    if bits == 16:
        gray = gray / float((1 << stored) - 1) * 255.0
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    if str(item.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        gray = 255 - gray
    return Image.fromarray(gray, "L")


def _reversed(dataset_json: str) -> bool:
    """Whether an image box asks for (2020,0020) 'Polarity' REVERSE."""
    ds = Dataset.from_json(dataset_json)
    return str(ds.get("Polarity", "") or "").strip().upper() == "REVERSE"


def _density(value: str) -> str:
    """The page colour of a (2010,0100) 'Border Density': WHITE, else BLACK (PS3.3 C.13.5).

    A numeric density (hundredths of optical density) prints white below 0.5 OD.
    """
    if value == "WHITE":
        return "white"
    if value.isdigit() and int(value) < 50:
        return "white"
    return "black"


class PrintStore:
    """The print objects of one archive; images and pages under ``data_dir/print``."""

    def __init__(self, index: Index, data_dir: Path) -> None:
        self.index = index
        self.root = Path(data_dir) / "print"

    # -- objects ---------------------------------------------------------------------

    def _insert(
        self,
        conn: sa.Connection,
        uid: str,
        kind: str,
        ds: Dataset,
        *,
        parent: str | None,
        calling_ae: str,
        position: int | None = None,
    ) -> None:
        try:
            conn.execute(
                print_object.insert().values(
                    sop_instance_uid=uid,
                    kind=kind,
                    parent_uid=parent,
                    position=position,
                    calling_ae=calling_ae,
                    dataset=ds.to_json(),
                    created_at=datetime.now(UTC),
                )
            )
        except sa.exc.IntegrityError:
            raise ServiceRequestError(0x0111, f"print object {uid} exists already") from None

    def _row(self, conn: sa.Connection, uid: str, kind: str | None = None) -> Any:
        row = (
            conn.execute(sa.select(print_object).where(print_object.c.sop_instance_uid == uid))
            .mappings()
            .first()
        )
        if row is None or (kind is not None and row["kind"] != kind):
            raise ServiceRequestError(0x0112, f"no {kind or 'print object'} {uid}")
        return row

    def create_session(self, uid: str, ds: Dataset, *, calling_ae: str = "") -> None:
        """N-CREATE Basic Film Session (PS3.4 H.4.1.2.1)."""
        with self.index.write() as conn:
            self._insert(conn, uid, SESSION, ds, parent=None, calling_ae=calling_ae)

    def create_film_box(
        self, uid: str, ds: Dataset, *, color: bool, calling_ae: str = ""
    ) -> Dataset:
        """N-CREATE Basic Film Box (PS3.4 H.4.2.2.1): makes its image boxes.

        Returns the response's attribute list: the film box with (2010,0510)
        'Referenced Image Box Sequence', one item per cell, in row-major order.

        Raises
        ------
        ServiceRequestError
            0x0120 without (2010,0010) or (2010,0500); 0x0112 for an unknown session;
            0x0106 for a layout other than STANDARD\\C,R.
        """
        if "ImageDisplayFormat" not in ds:
            raise ServiceRequestError(0x0120, "film box without (2010,0010) Image Display Format")
        refs = ds.get("ReferencedFilmSessionSequence") or []
        if not refs or "ReferencedSOPInstanceUID" not in refs[0]:
            raise ServiceRequestError(0x0120, "film box without (2010,0500) its film session")
        session = str(refs[0].ReferencedSOPInstanceUID)
        columns, rows = parse_layout(str(ds.ImageDisplayFormat))
        box_class = COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX
        ds.FilmOrientation = str(ds.get("FilmOrientation", "") or "PORTRAIT")
        ds.FilmSizeID = str(ds.get("FilmSizeID", "") or "8INX10IN")
        ds.MagnificationType = str(ds.get("MagnificationType", "") or "BILINEAR")
        items = []
        with self.index.write() as conn:
            self._row(conn, session, SESSION)
            self._insert(
                conn,
                uid,
                FILM_BOX,
                ds,
                parent=session,
                calling_ae=calling_ae,
                position=1 if color else 0,
            )
            for position in range(1, columns * rows + 1):
                box_uid = generate_uid()
                box = Dataset()
                box.ImageBoxPosition = position
                self._insert(
                    conn,
                    box_uid,
                    IMAGE_BOX,
                    box,
                    parent=uid,
                    calling_ae=calling_ae,
                    position=position,
                )
                ref = Dataset()
                ref.ReferencedSOPClassUID = box_class
                ref.ReferencedSOPInstanceUID = box_uid
                items.append(ref)
        reply = Dataset()
        for elem in ds:
            reply.add(elem)
        reply.ReferencedImageBoxSequence = items
        return reply

    def set(self, uid: str, changes: Dataset) -> str:
        """N-SET of a film session, film box or image box; returns the object's kind.

        An image box's pixels are decoded and written as PNG before this returns.

        Raises
        ------
        ServiceRequestError
            0x0112 for an unknown object; 0x0106/0x0120 for pixels that do not decode.
        """
        with self.index.write() as conn:
            row = self._row(conn, uid)
            merged = Dataset.from_json(row["dataset"])
            kind = str(row["kind"])
            for elem in changes:
                if elem.tag.group in (0, 2):
                    continue
                if kind == IMAGE_BOX and elem.keyword in (
                    "BasicGrayscaleImageSequence",
                    "BasicColorImageSequence",
                ):
                    if not elem.value:
                        raise ServiceRequestError(0x0120, f"{elem.keyword} without an item")
                    image = _to_image(elem.value[0])
                    buffer = io.BytesIO()
                    image.save(buffer, "PNG")
                    _write_durably(self._spool(uid), buffer.getvalue())
                    continue
                if kind == FILM_BOX and elem.keyword == "ImageDisplayFormat":
                    raise ServiceRequestError(0x0106, "a film box's layout is fixed at N-CREATE")
                merged[elem.tag] = elem
            conn.execute(
                print_object.update()
                .where(print_object.c.sop_instance_uid == uid)
                .values(dataset=merged.to_json())
            )
        return kind

    def _spool(self, image_box_uid: str) -> Path:
        return self.root / "spool" / f"{validate_uid(image_box_uid)}.png"

    def get(self, uid: str) -> Dataset:
        """N-GET of a print object's attributes."""
        with self.index.read() as conn:
            return Dataset.from_json(self._row(conn, uid)["dataset"])

    def delete(self, uid: str) -> None:
        """N-DELETE a film session or film box, and everything under it."""
        with self.index.write() as conn:
            row = self._row(conn, uid)
            doomed = [uid]
            frontier = [uid]
            while frontier:
                children = (
                    conn.execute(
                        sa.select(print_object.c.sop_instance_uid).where(
                            print_object.c.parent_uid.in_(frontier)
                        )
                    )
                    .scalars()
                    .all()
                )
                doomed += children
                frontier = list(children)
            conn.execute(print_object.delete().where(print_object.c.sop_instance_uid.in_(doomed)))
        del row
        for child in doomed:
            self._spool(child).unlink(missing_ok=True)

    # -- printing --------------------------------------------------------------------

    def print(self, uid: str) -> list[PrintedFilm]:
        """N-ACTION Print of a film session (all its boxes) or a film box: render them.

        Raises
        ------
        ServiceRequestError
            0x0112 for an unknown object; 0xC603 (image size larger than the box) is
            never raised: images are fitted to their cells.
        """
        with self.index.read() as conn:
            row = self._row(conn, uid)
            if row["kind"] == SESSION:
                boxes = (
                    conn.execute(
                        sa.select(print_object)
                        .where(print_object.c.parent_uid == uid, print_object.c.kind == FILM_BOX)
                        .order_by(print_object.c.pk)
                    )
                    .mappings()
                    .all()
                )
            elif row["kind"] == FILM_BOX:
                boxes = [row]
            else:
                raise ServiceRequestError(0x0112, f"{uid} is an image box, not printable")
            work = []
            for box in boxes:
                images = conn.execute(
                    sa.select(
                        print_object.c.sop_instance_uid,
                        print_object.c.position,
                        print_object.c.dataset,
                    )
                    .where(print_object.c.parent_uid == box["sop_instance_uid"])
                    .order_by(print_object.c.position)
                ).all()
                work.append((box, [(str(u), int(p), _reversed(d)) for u, p, d in images]))
        if not work:
            raise ServiceRequestError(0x0110, f"film session {uid} has no film box to print")
        return [self._render(box, images) for box, images in work]

    def _render(self, box: Any, images: list[tuple[str, int, bool]]) -> PrintedFilm:
        from PIL import Image, ImageOps

        ds = Dataset.from_json(box["dataset"])
        columns, rows = parse_layout(str(ds.ImageDisplayFormat))
        width_in, height_in = FILM_SIZES_INCH.get(str(ds.FilmSizeID).upper(), (8, 10))
        orientation = str(ds.FilmOrientation).upper()
        if orientation == "LANDSCAPE":
            width_in, height_in = max(width_in, height_in), min(width_in, height_in)
        width, height = round(width_in * DPI), round(height_in * DPI)
        color = bool(box["position"])
        border = str(ds.get("BorderDensity", "") or "").upper()
        page = Image.new("RGB" if color else "L", (width, height), _density(border))
        resample = {
            "REPLICATE": Image.Resampling.NEAREST,
            "BILINEAR": Image.Resampling.BILINEAR,
            "CUBIC": Image.Resampling.BICUBIC,
        }.get(str(ds.MagnificationType).upper())
        cell_w, cell_h = width // columns, height // rows
        placed = 0
        for image_uid, position, reverse in images:
            spool = self._spool(image_uid)
            if not spool.is_file():
                continue  # an empty image box prints as an empty cell
            with Image.open(spool) as opened:
                image = opened.convert(page.mode)
            if reverse:  # (2020,0020) Polarity REVERSE: the image box prints inverted
                image = ImageOps.invert(image)
            if resample is not None:
                scale = min(cell_w / image.width, cell_h / image.height)
                size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
                image = image.resize(size, resample)
            else:  # NONE: no interpolation, cropped to the cell
                image = image.crop((0, 0, min(image.width, cell_w), min(image.height, cell_h)))
            col, row_ = (position - 1) % columns, (position - 1) // columns
            x = col * cell_w + (cell_w - image.width) // 2
            y = row_ * cell_h + (cell_h - image.height) // 2
            page.paste(image, (x, y))
            placed += 1
        box_uid = str(box["sop_instance_uid"])
        folder = self.root / validate_uid(str(box["parent_uid"]))
        png, pdf = folder / f"{box_uid}.png", folder / f"{box_uid}.pdf"
        for path, fmt in ((png, "PNG"), (pdf, "PDF")):
            buffer = io.BytesIO()
            page.save(buffer, fmt, resolution=float(DPI))
            _write_durably(path, buffer.getvalue())
        now = datetime.now(UTC)
        layout = str(ds.ImageDisplayFormat)
        with self.index.write() as conn:
            conn.execute(
                print_film.insert().values(
                    film_box_uid=box_uid,
                    film_session_uid=str(box["parent_uid"]),
                    calling_ae=str(box["calling_ae"]),
                    layout=layout,
                    orientation=orientation,
                    color=color,
                    png=str(png.relative_to(self.root)),
                    pdf=str(pdf.relative_to(self.root)),
                    images=placed,
                    created_at=now,
                )
            )
        LOGGER.info(
            "printed film box %s (%s, %s, %d images) to %s",
            box_uid,
            layout,
            orientation,
            placed,
            png.parent,
        )
        return PrintedFilm(
            box_uid,
            str(box["parent_uid"]),
            str(box["calling_ae"]),
            layout,
            orientation,
            color,
            png,
            pdf,
            placed,
            now,
        )

    def films(self) -> list[PrintedFilm]:
        """Every printed film, oldest first."""
        with self.index.read() as conn:
            rows = conn.execute(sa.select(print_film).order_by(print_film.c.pk)).mappings().all()
        return [
            PrintedFilm(
                film_box_uid=str(r["film_box_uid"]),
                film_session_uid=str(r["film_session_uid"]),
                calling_ae=str(r["calling_ae"]),
                layout=str(r["layout"]),
                orientation=str(r["orientation"]),
                color=bool(r["color"]),
                png=self.root / str(r["png"]),
                pdf=self.root / str(r["pdf"]),
                images=int(r["images"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def film_file(self, film_box_uid: str, kind: str) -> Path:
        """The PNG or PDF of a printed film box (for the HTTP door)."""
        uid = validate_uid(film_box_uid, name="Film Box UID")
        for film in self.films():
            if film.film_box_uid == uid:
                return film.png if kind == "png" else film.pdf
        raise ServiceRequestError(0x0112, f"no printed film box {uid}")
