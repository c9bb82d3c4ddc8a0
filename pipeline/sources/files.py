"""Reading the file formats the released datasets use, headers first.

Every reader raises a DataError naming the file. Header readers (`npz_header`, `npy_header`,
`ply_header`, `open_h5`) never load array data, so a source can check thousands of files
before a long ingest starts.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np

from c2p4d.pipeline.errors import DataError

ArrayHeader = tuple[tuple[int, ...], np.dtype]


def source_dir(path: Path | None, dataset: str) -> Path:
    """The folder a real dataset was downloaded to; a DataError if it is not given or missing."""
    if path is None:
        raise DataError(f"dataset {dataset!r} reads released files: pass --source DIR")
    path = Path(path)
    if not path.exists():
        raise DataError(f"--source {path} does not exist; point it at the {dataset} download")
    if not path.is_dir():
        raise DataError(f"--source {path} is a file; point it at the folder that holds it")
    return path


def natural_key(name: str) -> tuple:
    """Sort key that orders 'frame2' before 'frame10' (digit runs compare as numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


# ---------------------------------------------------------------------------- npy / npz


def _read_npy_header(stream: BinaryIO, where: str) -> ArrayHeader:
    try:
        major, _ = np.lib.format.read_magic(stream)
        read = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(stream)
    except ValueError as error:
        raise DataError(f"{where}: not a numpy array file ({error})") from None
    return tuple(shape), np.dtype(dtype)


def npy_header(path: Path) -> ArrayHeader:
    """(shape, dtype) of a .npy file without reading its data."""
    try:
        with open(path, "rb") as stream:
            return _read_npy_header(stream, str(path))
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def npz_header(path: Path) -> dict[str, ArrayHeader]:
    """{key: (shape, dtype)} of every array in a .npz file without reading their data.

    An object array (e.g. MSR-Action3D's ragged frames) reports its outer shape and dtype object.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {}
            for entry in archive.infolist():
                if entry.filename.endswith(".npy"):
                    with archive.open(entry) as stream:
                        key = entry.filename[: -len(".npy")]
                        headers[key] = _read_npy_header(stream, f"{path} key {key!r}")
            return headers
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not an .npz archive (truncated download?)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def load_npz(
    path: Path, keys: tuple[str, ...], allow_pickle: bool = False
) -> dict[str, np.ndarray]:
    """The arrays `keys` of an .npz file, closed before returning; a DataError names a missing key.

    `allow_pickle` is needed for object arrays; it runs code stored in the file, so use it only
    for the formats that require it.
    """
    try:
        with np.load(path, allow_pickle=allow_pickle) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(
                    f"{path}: no key {', '.join(map(repr, missing))}; it has "
                    f"{', '.join(map(repr, archive.files)) or 'no arrays'}"
                )
            return {k: archive[k] for k in keys}
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise DataError(f"{path}: cannot read as .npz ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as error:
        raise DataError(f"{path}: cannot read as .npy ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


# ---------------------------------------------------------------------------- HDF5


@contextmanager
def open_h5(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file open for reading, closed on exit.

    File locking is off: several Dask workers read the same file, and locks fail on many
    network file systems (the HOI4D reference code sets HDF5_USE_FILE_LOCKING=FALSE too).
    """
    try:
        handle = h5py.File(path, "r", locking=False)
    except OSError as error:
        raise DataError(f"{path}: cannot open as HDF5 ({error})") from None
    with handle:
        yield handle


# ---------------------------------------------------------------------------- PLY

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_PLY_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}


def _ply_elements(stream: BinaryIO, path: Path) -> tuple[str, list[tuple[str, int, list]]]:
    """Parse the header: the format and [(element, count, [(property, type or None for lists)])]."""
    if stream.readline().strip() != b"ply":
        raise DataError(f"{path}: not a PLY file (no 'ply' magic line)")
    fmt, elements = None, []
    while True:
        line = stream.readline()
        if not line:
            raise DataError(f"{path}: PLY header has no end_header line")
        words = line.decode("ascii", "replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            is_list = words[1] == "list"
            kind = None if is_list else _PLY_TYPES.get(words[1])
            if not is_list and kind is None:
                raise DataError(f"{path}: PLY property type {words[1]!r} is not supported")
            elements[-1][2].append((words[-1], kind))
        else:
            raise DataError(f"{path}: cannot parse PLY header line {line.strip()!r}")
    if fmt not in _PLY_FORMATS:
        raise DataError(f"{path}: PLY format {fmt!r} is not ascii or binary")
    return fmt, elements


def ply_header(path: Path) -> tuple[int, dict[str, np.dtype]]:
    """(vertex count, {property: dtype}) of a PLY file, without reading the points."""
    try:
        with open(path, "rb") as stream:
            _, elements = _ply_elements(stream, path)
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    for name, count, properties in elements:
        if name == "vertex":
            return count, {p: np.dtype(kind) for p, kind in properties if kind is not None}
    raise DataError(f"{path}: PLY file has no vertex element")


def read_ply(path: Path) -> dict[str, np.ndarray]:
    """{property: values [n]} of the vertex element of an ascii or binary PLY file.

    Elements before the vertex element (rare) are skipped if they have no list properties.
    """
    try:
        with open(path, "rb") as stream:
            fmt, elements = _ply_elements(stream, path)
            for name, count, properties in elements:
                if any(kind is None for _, kind in properties):
                    if name == "vertex":
                        raise DataError(f"{path}: PLY vertex element has a list property")
                    raise DataError(f"{path}: PLY element {name!r} before the vertices has lists")
                order = _PLY_FORMATS[fmt]
                dtype = np.dtype([(p, (order or "<") + kind) for p, kind in properties])
                if order is None:
                    rows = [stream.readline().decode("ascii") for _ in range(count)]
                    table = np.loadtxt(rows, dtype=dtype, ndmin=1) if count else np.empty(0, dtype)
                else:
                    data = stream.read(count * dtype.itemsize)
                    if len(data) < count * dtype.itemsize:
                        raise DataError(f"{path}: PLY file ends inside element {name!r}")
                    table = np.frombuffer(data, dtype=dtype, count=count)
                if name == "vertex":
                    return {p: table[p] for p in dtype.names}
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    except ValueError as error:
        raise DataError(f"{path}: cannot parse PLY data ({error})") from None
    raise DataError(f"{path}: PLY file has no vertex element")
