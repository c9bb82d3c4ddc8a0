"""The Zarr v3 store: the one contract between the pipeline and the trainer.

This is the only module that knows array names, dtypes and chunking (DESIGN.md draws the
layout). Frame arrays are chunked along frames (~1 MiB of points per chunk) and sharded (a few
chunks per file), so one sequence lives in a few files and is read in a few requests.

Safety under parallel writes and kills:
- A store is created complete with all its metadata in a scratch folder, then renamed into
  place, so a half-created store never exists under the real name.
- Neighbouring sequences can share a shard. A write replaces the shards it fully covers and
  merges into a shard it covers only partly under a lock named after that shard, so two
  workers never lose each other's frames.
- zarr writes each file to a temporary name and renames it, so a killed worker leaves the old
  or the new shard, never a torn one. A sequence counts only once its `done` flag, written
  after its frames, is set; `complete` is set once every flag is.

Trust after the fact (`pipeline/integrity.py` checks it): zarr reads a missing file as its
fill value, so a store that lost a file would read back as zeros. Every item that is marked
done on its own (a sequence; one view of one sequence) therefore records, before its flag, a
digest of each of its arrays as written, and every shard is written even where it holds only
fill values, so that a done item's files all exist.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from c2p4d.kernels.zbuffer import unpack_mask
from c2p4d.pipeline.errors import DataError, naming
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo, ViewDefaults

FORMAT_VERSION = 3

_CHUNK_BYTES = 1 << 20  # target size of one uncompressed chunk of frame/points
_CHUNKS_PER_SHARD = 8
_FRAME_ARRAYS = ("points", "point_label", "action", "camera", "features")
_VIEW_ARRAYS = ("visible", "camera", "intrinsics")
_DIGEST_BYTES = 16  # blake2b-128 per array of an item
# Shards are written even where every value is the fill value, so that a done item's files exist.
_WRITE_ALL = {"write_empty_chunks": True}
_VIEW_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_REQUIRED_ARRAYS = [
    f"seq/{name}" for name in ("frame_offset", "name", "split", "label", "done", "digest")
] + [f"frame/{name}" for name in ("points", "point_label", "action", "camera")]

LockFactory = Callable[[str], AbstractContextManager]


def no_lock(key: str) -> AbstractContextManager:
    """The lock factory for a single writer."""
    return nullcontext()


@dataclass(frozen=True)
class StoreLayout:
    """Everything a store needs before any frame is written."""

    dataset: str
    points_per_frame: int
    sequences: tuple[SequenceInfo, ...]
    info: DatasetInfo
    config: dict[str, Any] = field(default_factory=dict)  # the settings that made the data

    @property
    def frame_offset(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([s.num_frames for s in self.sequences])]).astype(
            np.int64
        )

    @property
    def bytes_needed(self) -> int:
        """What the frames take uncompressed: an upper bound on the store's size on disk."""
        features = len(self.info.feature_names)
        per_frame = self.points_per_frame * (12 + 2 + 4 * features) + 2 + 64
        return int(self.frame_offset[-1]) * per_frame


@dataclass(frozen=True)
class StoreSummary:
    sequences: int
    frames: int
    points: int
    bytes_on_disk: int

    def line(self) -> str:
        return (
            f"{self.sequences} sequences, {self.frames} frames, {self.points:,} points, "
            f"{self.bytes_on_disk / 2**20:.1f} MiB on disk"
        )


def _frame_chunks(points_per_frame: int) -> tuple[int, int]:
    """(frames per chunk, frames per shard): a power of two near 1 MiB of xyz per chunk."""
    frames = max(1, _CHUNK_BYTES // (points_per_frame * 12))
    chunk = 1 << (frames.bit_length() - 1)
    return chunk, chunk * _CHUNKS_PER_SHARD


def _compressor(dtype: np.dtype) -> BloscCodec:
    """Measured on synth-hoi: xyz floats hardly compress (zstd-5 x1.21 at 79 ms per 150-frame
    sequence, lz4 x1.11 at 5 ms), so they get lz4; integer labels and bit masks compress ~8x
    with zstd-1 on bit planes in ~3 ms."""
    if np.issubdtype(dtype, np.floating):
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    return BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")


def hasher() -> hashlib.blake2b:
    """The digest of an item's array: blake2b-128 of its bytes as stored (C order, the stored
    dtype), fed frame by frame or at once."""
    return hashlib.blake2b(digest_size=_DIGEST_BYTES)


def digest(value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 [16]: the digest of an array (see `hasher`)."""
    hashed = hasher()
    hashed.update(np.ascontiguousarray(value, dtype=dtype).data)
    return np.frombuffer(hashed.digest(), np.uint8)


@dataclass(frozen=True)
class Item:
    """What is written and marked done on its own: a sequence, or one view of a sequence."""

    sequence: int
    view_set: str | None = None
    view: int | None = None


@dataclass(frozen=True)
class StoreFile:
    """A file of the store (its path relative to the store), how many chunks its shard holds
    (0: not a shard), and which store frames of an item it holds."""

    path: str
    inner_chunks: int
    frames: range = range(0)


@dataclass(frozen=True)
class Part:
    """One array's share of an item: the array, its index before the frames, and its files."""

    array: str
    lead: tuple[int, ...]
    files: tuple[StoreFile, ...]


class UnreadableError(DataError):
    """Frames that zarr cannot decode: a checksum that does not match, a chunk that does not
    decompress (`reason`: zarr's or the codec's words)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, reason)  # both in args: Dask pickles it back to the client
        self.reason = reason

    def __str__(self) -> str:
        return self.args[0]


def _check_metadata_files(path: Path) -> None:
    """A DataError naming a zarr.json of the store (the root, its groups and arrays; not those
    of a view set being created) that is missing, empty, not JSON or not a node's metadata.
    zarr skips a folder without one (a view set would vanish without a word) and fails on
    metadata that is JSON but not an object with a node type."""
    nodes = [path] + [
        node
        for pattern in ("*", "*/*", "view/*/*")
        for node in sorted(path.glob(pattern))
        if node.is_dir() and not any(p.startswith(".") for p in node.relative_to(path).parts)
    ]
    for node in nodes:
        meta = node / "zarr.json"
        try:
            parsed = json.loads(meta.read_bytes())
        except FileNotFoundError:
            problem = "is missing"
        except (ValueError, UnicodeDecodeError) as error:
            problem = f"is damaged ({error})"
        else:
            if isinstance(parsed, dict) and parsed.get("node_type") in ("group", "array"):
                continue
            problem = "is damaged (not the metadata of a zarr group or array)"
        parts = node.relative_to(path).parts
        if len(parts) >= 2 and parts[0] == "view":  # a view set's: the rest of the store is fine
            what = (
                f"delete the folder {path / 'view' / parts[1]} and run `c2p-data partial-views` "
                "again"
            )
        else:
            what = "delete the store and run `c2p-data ingest` again"
        raise DataError(f"{meta} {problem}: restore it, or {what}")


# The store's attributes and their types; `config` holds {"ingest": the source's settings}.
_ATTRIBUTES = {
    "dataset": str,
    "points_per_frame": int,
    "class_names": list,
    "action_names": list,
    "label_names": list,
    "feature_names": list,
    "source": dict,
    "config": dict,
    "complete": bool,
}
# The arrays that index the sequences, written once when the store is made. zarr reads a lost
# file of them as its fill value (every label 0, every split train), so their digests, in the
# attribute `layout_digest` of stores made since it was added, are checked on opening.
_LAYOUT_ARRAYS = ("seq/frame_offset", "seq/name", "seq/split", "seq/label")


def _layout_digest(array: str, values: np.ndarray | list[str]) -> str:
    """The hex digest of one of the _LAYOUT_ARRAYS as written (names: UTF-8, NUL-separated)."""
    hashed = hasher()
    if array == "seq/name":
        hashed.update("\0".join(str(name) for name in values).encode("utf-8"))
    else:
        hashed.update(np.ascontiguousarray(values).data)
    return hashed.hexdigest()


_KINDS = {str: "text", int: "an integer", list: "a list", dict: "an object", bool: "true or false"}


def check_view_set_name(name: str) -> None:
    """A DataError unless `name` can name a view set (a folder of the store, and of its run's
    lock file beside it)."""
    if not _VIEW_SET_NAME.fullmatch(name):
        raise DataError(
            f"view set name {name!r}: use letters, digits, '_', '-' and '.', starting with a "
            "letter or digit"
        )


def _check_attributes(path: Path, attrs: dict[str, Any]) -> None:
    """A DataError naming an attribute of the store that is missing or of the wrong type."""
    for key, kind in _ATTRIBUTES.items():
        if key not in attrs:
            raise DataError(
                f"{path} lacks {key!r} (an attribute of its zarr.json): delete it and run "
                "`c2p-data ingest` again to rebuild it"
            )
        value = attrs[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise DataError(
                f"{path / 'zarr.json'}: attribute {key!r} is {shown}, not {_KINDS[kind]}: "
                "restore it, or delete the store and run `c2p-data ingest` again"
            )
    if not isinstance(attrs["config"].get("ingest"), dict):
        raise DataError(
            f"{path} lacks 'config.ingest' (an attribute of its zarr.json: the source's settings): "
            "delete it and run `c2p-data ingest` again to rebuild it"
        )


def _normalised(value: Any) -> Any:
    """The JSON form of a value, so that settings compare equal after a round trip."""
    return json.loads(json.dumps(value))


def _differences(held: dict[str, Any], asked: dict[str, Any], prefix: str = "") -> list[str]:
    """'key: held here, asked' for every setting that differs, nested keys dotted."""
    out = []
    for key in sorted(set(held) | set(asked)):
        a, b = held.get(key, "unset"), asked.get(key, "unset")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a} here, {b} asked")
    return out


class Store:
    """An open store. Create with `Store.create_or_resume`, read with `Store.open`."""

    def __init__(self, path: Path, root: zarr.Group) -> None:
        self.path = path
        self._root = root
        attrs = root.attrs.asdict()
        self.attrs: dict[str, Any] = attrs
        self.dataset: str = attrs["dataset"]
        self.points_per_frame: int = attrs["points_per_frame"]
        self.class_names: list[str] = attrs["class_names"]
        self.action_names: list[str] = attrs["action_names"]
        self.label_names: list[str] = attrs["label_names"]
        self.feature_names: list[str] = attrs["feature_names"]
        self.frame_offset: np.ndarray = root["seq/frame_offset"][:]
        # The grid the store was made with, whatever the defaults are now.
        points = root["frame/points"]
        self.chunk_frames, self.shard_frames = points.chunks[0], points.shards[0]
        self._opened: dict[str, zarr.Array] = {}  # see _metadata

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False, check_layout: bool = True) -> Store:
        """Open an existing store; a DataError if it is missing, foreign, of another version or
        its metadata is damaged. With `check_layout` (the default) the arrays that index the
        sequences are read and checked too; the tasks of a run, whose client has, skip that."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise DataError(
                f"{path} is not a c2p4d store (no zarr.json); build one with "
                "`c2p-data ingest --dataset NAME --out DIR`"
            )
        _check_metadata_files(path)
        root = zarr.open_group(path, mode="r+" if writable else "r")
        found = root.attrs.get("format_version")
        if found != FORMAT_VERSION:
            raise DataError(
                f"{path} has store format version {found}, this c2p4d reads version "
                f"{FORMAT_VERSION}: delete it and run `c2p-data ingest` again to rebuild it"
            )
        _check_attributes(path, root.attrs.asdict())
        try:
            store = cls(path, root)
            for name in _REQUIRED_ARRAYS:
                store._metadata(name)
        except KeyError as error:
            raise DataError(
                f"{path} lacks {error.args[0]!r} (an array): delete it and run `c2p-data ingest` "
                "again to rebuild it"
            ) from None
        for name in store.view_sets():
            store._check_view_set(name)
        if check_layout:
            store.check_layout()
        return store

    def _check_view_set(self, name: str) -> None:
        """A DataError if view set `name` lacks an array or its settings."""
        again = (
            f"delete the folder {self.path / 'view' / name} and run `c2p-data partial-views` again"
        )
        try:
            for array in (*_VIEW_ARRAYS, "done", "digest"):
                self._metadata(f"view/{name}/{array}")
        except KeyError as error:
            raise DataError(f"{self.path} lacks {error.args[0]!r} (an array): {again}") from None
        if not isinstance(self._root[f"view/{name}"].attrs.get("config"), dict):
            raise DataError(
                f"{self.path / 'view' / name / 'zarr.json'} lacks the view set's settings "
                f"(attribute 'config'): {again}"
            )

    def check_layout(self) -> None:
        """A DataError if the arrays that index the sequences are not as they were written: a
        frame offset that does not rise from 0 to the frame count or names that are empty (what
        a lost file of them reads as), or, where the store has their digests, any change."""
        offset, total = self.frame_offset, self._root["frame/points"].shape[0]
        problems = []
        if len(offset) < 2 or offset[0] != 0 or (np.diff(offset) <= 0).any() or offset[-1] != total:
            problems.append(f"seq/frame_offset does not rise from 0 to the {total} frames stored")
        elif not all(self.names):
            problems.append("seq/name holds empty names")
        stored = self.attrs.get("layout_digest")
        if isinstance(stored, dict) and not problems:
            values = {
                "seq/frame_offset": offset,
                "seq/name": self.names,
                "seq/split": self.splits,
                "seq/label": self.labels,
            }
            problems += [
                f"{array} differs from the digest written with it"
                for array in _LAYOUT_ARRAYS
                if stored.get(array) != _layout_digest(array, values[array])
            ]
        if problems:
            raise DataError(
                f"{self.path} is damaged: {'; '.join(problems)} (a file of it was lost or "
                "changed): restore it, or delete the store and run `c2p-data ingest` again"
            )

    @classmethod
    def create_or_resume(cls, path: str | Path, layout: StoreLayout) -> Store:
        """A writable store for `layout`: a new one, or the existing one to finish.

        An existing store is resumed only if it was made from the same dataset and settings;
        anything else is a DataError, and the existing store is left untouched.
        """
        path = Path(path)
        if path.exists() and not (path.is_dir() and not any(path.iterdir())):
            store = cls.open(path, writable=True)
            store._check_same_layout(layout)
            return store
        return cls._create(path, layout)  # renamed over an empty folder of its name, if any

    @classmethod
    def _create(cls, path: Path, layout: StoreLayout) -> Store:
        scratch = path.with_name(f".{path.name}.creating-{uuid.uuid4().hex[:8]}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            root = zarr.open_group(scratch, mode="w-")
            cls._write_layout(root, layout)
            os.rename(scratch, path)
        except OSError as error:
            shutil.rmtree(scratch, ignore_errors=True)
            raise DataError(f"cannot create the store {path}: {error.strerror or error}") from error
        return cls.open(path, writable=True)

    @staticmethod
    def _write_layout(root: zarr.Group, layout: StoreLayout) -> None:
        seqs, n = layout.sequences, layout.points_per_frame
        total = int(layout.frame_offset[-1])
        index = {
            "seq/frame_offset": layout.frame_offset,
            "seq/name": [s.name for s in seqs],
            "seq/split": np.array([s.split for s in seqs], np.uint8),
            "seq/label": np.array([s.label for s in seqs], np.int16),
        }
        root.create_array(
            "seq/frame_offset", data=index["seq/frame_offset"], chunks=(len(seqs) + 1,)
        )
        names = root.create_array("seq/name", shape=(len(seqs),), dtype=str)  # variable-length
        names[:] = index["seq/name"]
        root.create_array("seq/split", data=index["seq/split"])
        root.create_array("seq/label", data=index["seq/label"])
        # One file per flag: workers set flags concurrently without sharing a file.
        root.create_array("seq/done", shape=(len(seqs),), dtype=bool, chunks=(1,), fill_value=False)
        # What each sequence's source said of it beyond its arrays, as JSON text; one file each.
        root.create_array("seq/meta", shape=(len(seqs),), dtype=str, chunks=(1,))
        chunk, shard = _frame_chunks(n)
        frame_arrays = {
            "points": ((n, 3), np.float32, 0.0),
            "point_label": ((n,), np.int16, -1),
            "action": ((), np.int16, -1),
            "camera": ((4, 4), np.float32, 0.0),
        }
        if layout.info.feature_names:
            frame_arrays["features"] = ((n, len(layout.info.feature_names)), np.float32, 0.0)
        # Per sequence, the digest of each frame array (in _FRAME_ARRAYS order), one file each.
        tail = (len(frame_arrays), _DIGEST_BYTES)
        root.create_array(
            "seq/digest", shape=(len(seqs), *tail), dtype=np.uint8, chunks=(1, *tail), fill_value=0
        )
        for name, (tail, dtype, fill) in frame_arrays.items():
            root.create_array(
                f"frame/{name}",
                shape=(total, *tail),
                dtype=dtype,
                chunks=(chunk, *tail),
                shards=(shard, *tail),
                compressors=_compressor(dtype),
                fill_value=fill,
            )
        info = layout.info
        root.attrs.update(
            _normalised(
                {
                    "format_version": FORMAT_VERSION,
                    "dataset": layout.dataset,
                    "points_per_frame": n,
                    "class_names": info.class_names,
                    "action_names": info.action_names,
                    "label_names": info.label_names,
                    "feature_names": info.feature_names,
                    "source": info.source_attrs(),
                    "config": {"ingest": layout.config},
                    "software": {"c2p4d": version("c2p4d")},
                    "complete": False,
                    "layout_digest": {a: _layout_digest(a, index[a]) for a in _LAYOUT_ARRAYS},
                }
            )
        )

    def _check_same_layout(self, layout: StoreLayout) -> None:
        wanted = {
            "dataset": layout.dataset,
            "points per frame": layout.points_per_frame,
            "settings": _normalised(layout.config),
            "sequences": [s.name for s in layout.sequences],
            "frame counts": layout.frame_offset.tolist(),
            "splits": [s.split for s in layout.sequences],
            "labels": [s.label for s in layout.sequences],
        }
        found = {
            "dataset": self.dataset,
            "points per frame": self.points_per_frame,
            "settings": self.attrs["config"]["ingest"],
            "sequences": self.names,
            "frame counts": self.frame_offset.tolist(),
            "splits": self.splits.tolist(),
            "labels": self.labels.tolist(),
        }
        differ = [key for key in wanted if wanted[key] != found[key]]
        if differ:
            raise DataError(
                f"{self.path} already holds {self.dataset!r} made with other "
                f"{', '.join(differ)}; choose another --out, or delete it to rebuild"
            )

    # ------------------------------------------------------------------ sequences

    @property
    def num_sequences(self) -> int:
        return len(self.frame_offset) - 1

    @property
    def num_frames(self) -> int:
        return int(self.frame_offset[-1])

    @functools.cached_property
    def names(self) -> list[str]:
        return [str(n) for n in self._root["seq/name"][:]]

    @property
    def splits(self) -> np.ndarray:
        return self._root["seq/split"][:]

    @property
    def labels(self) -> np.ndarray:
        return self._root["seq/label"][:]

    def sequences(self) -> list[SequenceInfo]:
        counts = np.diff(self.frame_offset)
        return [
            SequenceInfo(name, int(t), int(split), int(label))
            for name, t, split, label in zip(
                self.names, counts, self.splits, self.labels, strict=True
            )
        ]

    def index_of(self, name: str) -> int:
        """The index of sequence `name`; a DataError listing a few names if there is none."""
        names = self.names
        if name not in names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise DataError(f"{self.path} has no sequence {name!r}; it has {shown}")
        return names.index(name)

    def frame_range(self, s: int) -> tuple[int, int]:
        return int(self.frame_offset[s]), int(self.frame_offset[s + 1])

    # ------------------------------------------------------------------ writing

    def write_sequence(self, s: int, data: SequenceData, lock: LockFactory = no_lock) -> None:
        """Write every frame array of sequence `s`, then their digests and its `meta` (its done
        flag is set separately)."""
        start, stop = self.frame_range(s)
        data = data.filled()
        data.validate(
            num_frames=stop - start,
            points_per_frame=self.points_per_frame,
            num_classes=len(self.class_names),
            num_actions=len(self.action_names),
            num_features=len(self.feature_names),
            where=str(self.path),
        )
        values = {f"frame/{name}": getattr(data, name) for name in self.frame_arrays}
        self._write_frames(values, (), start, stop, lock, "frame")
        self._write_digests("seq/digest", (s,), values)
        meta = self._optional("seq/meta")
        if meta is not None:
            with naming(self.path / meta.path):
                meta.with_config(_WRITE_ALL)[s] = json.dumps(data.meta)

    def _write_digests(
        self, array: str, index: tuple[int, ...], values: dict[str, np.ndarray]
    ) -> None:
        """The digests of an item's arrays as written (`values` in the digest array's order)."""
        digests = [digest(value, self._root[name].dtype) for name, value in values.items()]
        with naming(self.path / array):
            self._root[array].with_config(_WRITE_ALL)[index] = np.stack(digests)

    @property
    def frame_arrays(self) -> list[str]:
        """The names of the frame arrays this store has, in their digests' order."""
        return [name for name in _FRAME_ARRAYS if name in self._root["frame"]]

    def _write_frames(
        self,
        values: dict[str, np.ndarray],
        lead: tuple[int, ...],
        start: int,
        stop: int,
        lock: LockFactory,
        group: str,
    ) -> None:
        """Write frames [start, stop) of arrays laid out on the frame grid after `lead` indices,
        holding the lock of every shard that another writer may share."""
        prefix = "/".join([str(self.path.resolve()), group, *map(str, lead)])
        with ExitStack() as stack:
            for shard in self._partly_covered_shards(start, stop):
                stack.enter_context(lock(f"{prefix}/{shard}"))
            for name, value in values.items():
                with naming(self.path / name):
                    self._root[name].with_config(_WRITE_ALL)[(*lead, slice(start, stop))] = value

    def _partly_covered_shards(self, start: int, stop: int) -> list[int]:
        """Shards that [start, stop) touches but does not fill: other writers may share them."""
        size, total = self.shard_frames, self.num_frames
        shards = range(start // size, (stop - 1) // size + 1)
        return [i for i in shards if start > i * size or stop < min((i + 1) * size, total)]

    def mark_done(self, s: int) -> None:
        with naming(self.path / "seq/done"):
            self._root["seq/done"][s] = True

    def done(self) -> np.ndarray:
        return self._root["seq/done"][:]

    def mark_complete(self) -> None:
        """Record that every sequence is written; refuses while any is missing."""
        missing = np.flatnonzero(~self.done())
        if len(missing):
            raise DataError(f"{self.path}: {len(missing)} sequences are not written yet")
        with naming(self.path / "zarr.json"):
            self._root.attrs["complete"] = True
        self.attrs["complete"] = True

    @property
    def complete(self) -> bool:
        """Marked complete, and every done flag still set."""
        return bool(self.attrs.get("complete")) and bool(self.done().all())

    # ------------------------------------------------------------------ partial views

    @property
    def view_defaults(self) -> ViewDefaults:
        """The view settings the dataset's source recorded (`partial-views` makes its views
        with them unless told otherwise)."""
        return ViewDefaults.from_attrs(self.attrs["source"])

    @property
    def world_up(self) -> tuple[float, float, float] | None:
        """The world's up as the source recorded it (the built-in worlds: +z); None if unknown."""
        return self.view_defaults.up

    @property
    def default_view_set(self) -> str:
        """The name `c2p-data partial-views` gives a set by default: the dataset's own camera
        path (Synthia's `full-circle`, else `sweep`)."""
        return self.view_defaults.mode

    def view_sets(self) -> list[str]:
        """The names of the view sets the store holds, sorted."""
        if "view" not in self._root:
            return []
        # Skips a set being created (a scratch folder, named with a leading '.').
        return sorted(
            name for name, _ in self._root["view"].groups() if _VIEW_SET_NAME.fullmatch(name)
        )

    def view_set_name(self, view_set: str | None = None) -> str:
        """The set `view_set` names; None: the only set, else the default one. A DataError if
        the store has no views, or not that set."""
        sets = self.view_sets()
        if not sets:
            raise DataError(
                f"{self.path} has no partial views; run `c2p-data partial-views {self.path}` first"
            )
        if view_set is None and len(sets) == 1:
            return sets[0]
        name = self.default_view_set if view_set is None else view_set
        if name not in sets:
            which = "no default view set" if view_set is None else f"no view set {name!r}"
            raise DataError(f"{self.path} has {which}; it has {', '.join(sets)}: name one of them")
        return name

    def num_views(self, view_set: str | None = None) -> int:
        return self._view_array(view_set, "visible").shape[0]

    def view_config(self, view_set: str | None = None) -> dict[str, Any]:
        """The view count, trajectory and occlusion settings the set was made with."""
        return self._root[f"view/{self.view_set_name(view_set)}"].attrs["config"]

    def remove_unfinished_writes(self, group: str) -> int:
        """Delete the temporary files a writer killed mid-chunk left under `group` (zarr's local
        store writes `<chunk>.<uuid>.partial`, then renames it), so that a resumed run leaves
        no file it did not finish; returns how many. Only the group's one writer may call it."""
        stray = list((self.path / group).rglob("*.partial"))
        for path in stray:
            path.unlink(missing_ok=True)
        return len(stray)

    def prepare_views(
        self,
        num_views: int,
        config: dict[str, Any],
        replace: bool = False,
        view_set: str | None = None,
    ) -> str:
        """Create the arrays of a view set (None: the default name), or check that the existing
        set was made the same way; returns the set's name.

        A set made with other settings is kept unless `replace` is set, which drops that set
        (and no other).
        """
        name = self.default_view_set if view_set is None else view_set
        check_view_set_name(name)
        if num_views < 1:
            raise DataError(f"the number of views must be at least 1, got {num_views}")
        wanted = _normalised({"num_views": num_views, **config})
        if name in self.view_sets() and self._same_views(name, wanted, replace):
            return name
        if not self._create_views(name, num_views, wanted):  # another run made it meanwhile
            self._same_views(name, wanted, replace=False)
        return name

    def _same_views(self, name: str, wanted: dict[str, Any], replace: bool) -> bool:
        """Was the existing set `name` made with the settings `wanted`? If not: a DataError, or
        with `replace` the set is dropped (False)."""
        held = self.view_config(name)
        if held == wanted:
            return True
        if not replace:
            changes = "; ".join(_differences(held, wanted))
            raise DataError(
                f"{self.path} already holds view set {name!r} of {self.num_views(name)} views "
                f"made with other settings ({changes}); pass --replace to drop that set and "
                "render anew, or --view-set NAME to keep both"
            )
        del self._root[f"view/{name}"]
        return False

    def _create_views(self, name: str, num_views: int, config: dict[str, Any]) -> bool:
        """Make the set's group, settings and arrays in a scratch folder, then rename it into
        place, so that another run never sees a set without its settings or arrays (as a
        store is created). False if another run put a set of that name there first."""
        n, f = self.points_per_frame, self.num_frames
        if n % 8:
            raise DataError(f"{self.path}: {n} points per frame is not a multiple of 8")
        with naming(self.path / "view"):
            self._root.require_group("view")
        final = self.path / "view" / name
        scratch = final.with_name(f".{name}.creating-{uuid.uuid4().hex[:8]}")
        try:
            with naming(final):
                group = zarr.open_group(scratch, mode="w-", attributes={"config": config})
                for array, tail, dtype in (
                    ("visible", (n // 8,), np.uint8),
                    ("camera", (4, 4), np.float32),
                    ("intrinsics", (3, 3), np.float32),
                ):
                    group.create_array(
                        array,
                        shape=(num_views, f, *tail),
                        dtype=dtype,
                        chunks=(1, self.chunk_frames, *tail),
                        shards=(1, self.shard_frames, *tail),
                        compressors=_compressor(dtype),
                        fill_value=0,
                    )
                shape = (num_views, self.num_sequences)
                group.create_array("done", shape=shape, dtype=bool, chunks=(1, 1), fill_value=0)
                # The up each sequence's views circled about (`view_up`), one file each.
                group.create_array(
                    "up",
                    shape=(self.num_sequences, 3),
                    dtype=np.float64,
                    chunks=(1, 3),
                    compressors=_compressor(np.float64),
                    fill_value=np.nan,
                )
                tail = (len(_VIEW_ARRAYS), _DIGEST_BYTES)
                group.create_array(
                    "digest",
                    shape=(*shape, *tail),
                    dtype=np.uint8,
                    chunks=(1, 1, *tail),
                    fill_value=0,
                )
        except OSError:  # a full disk: leave no half-made set behind
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        try:
            os.rename(scratch, final)
        except OSError as error:
            shutil.rmtree(scratch, ignore_errors=True)
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            raise
        return True

    def write_view(
        self,
        s: int,
        v: int,
        visible_packed: np.ndarray,
        camera: np.ndarray,
        intrinsics: np.ndarray,
        lock: LockFactory = no_lock,
        view_set: str | None = None,
    ) -> None:
        """Write view `v` of sequence `s`: bit-packed visibility [T, N/8], camera [T, 4, 4],
        intrinsics [T, 3, 3], then their digests (its done flag is set separately)."""
        group = f"view/{self.view_set_name(view_set)}"
        start, stop = self.frame_range(s)
        t, n = stop - start, self.points_per_frame
        values = {
            f"{group}/{name}": (value, shape, dtype)
            for name, value, shape, dtype in zip(
                _VIEW_ARRAYS,
                (visible_packed, camera, intrinsics),
                ((t, n // 8), (t, 4, 4), (t, 3, 3)),
                (np.uint8, np.float32, np.float32),
                strict=True,
            )
        }
        for name, (value, shape, dtype) in values.items():
            if value.shape != shape or value.dtype != dtype:
                raise DataError(
                    f"{self.path}: view {v} of sequence {self.names[s]!r} has {name} "
                    f"{value.dtype}{list(value.shape)}, expected {np.dtype(dtype)}{list(shape)}"
                )
        arrays = {name: value for name, (value, _, _) in values.items()}
        self._write_frames(arrays, (v,), start, stop, lock, group)
        self._write_digests(f"{group}/digest", (v, s), arrays)

    def write_view_up(self, s: int, up: np.ndarray | None, view_set: str | None = None) -> None:
        """Record the up the set's views of sequence `s` circle about (None: none, each camera
        its own -y), before their done flags. A set made before ups were recorded keeps none."""
        array = self._optional(f"view/{self.view_set_name(view_set)}/up")
        if array is not None:
            value = np.zeros(3) if up is None else np.divide(up, np.linalg.norm(up))
            with naming(self.path / array.path):
                array.with_config(_WRITE_ALL)[s] = value

    def view_up(self, s: int, view_set: str | None = None) -> np.ndarray | None:
        """float64 [3]: the unit up the set's views of sequence `s` circled about (the world's,
        or its dominant plane's); None where there was none (each camera its own -y). A KeyError
        where the set holds no record of it (made before ups were recorded; `s` not rendered)."""
        name = self.view_set_name(view_set)
        array = self._optional(f"view/{name}/up")
        up = None if array is None else array[s]
        if up is None or np.isnan(up).any():
            raise KeyError(f"view set {name!r} records no up for sequence {s}")
        return up if up.any() else None

    def view_bytes(self, frames: int) -> int:
        """What `frames` frames of views take uncompressed (mask, camera, intrinsics)."""
        return frames * (self.points_per_frame // 8 + 64 + 36)

    def mark_view_done(self, s: int, v: int, view_set: str | None = None) -> None:
        """Set the done flag of view `v` of sequence `s` (after `write_view`)."""
        done = self._view_array(view_set, "done")
        with naming(self.path / done.path):
            done[v, s] = True

    def views_done(self, view_set: str | None = None) -> np.ndarray:
        """bool [V, S]: which (view, sequence) pairs of the set are written."""
        return self._view_array(view_set, "done")[:]

    def read_visible(
        self, s: int, v: int, frames: slice = slice(None), view_set: str | None = None
    ) -> np.ndarray:
        """bool [T, N]: which complete points of sequence `s` view `v` sees (frames: a slice
        within the sequence, step >= 1)."""
        packed = self._read(self._view_array(view_set, "visible"), self._frames(s, frames), (v,))
        return unpack_mask(packed, self.points_per_frame)

    def read_view(
        self, s: int, v: int, frames: slice = slice(None), view_set: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """View `v` of sequence `s`: (visible bool [T, N], camera [T,4,4], intrinsics [T,3,3])."""
        window = self._frames(s, frames)
        return (
            self.read_visible(s, v, frames, view_set),
            self._read(self._view_array(view_set, "camera"), window, (v,)),
            self._read(self._view_array(view_set, "intrinsics"), window, (v,)),
        )

    def _view_array(self, view_set: str | None, name: str) -> zarr.Array:
        return self._root[f"view/{self.view_set_name(view_set)}/{name}"]

    # ------------------------------------------------------------------ reading

    def read_sequence(self, s: int, frames: slice = slice(None)) -> SequenceData:
        """Sequence `s` (optionally a slice of its frames, step >= 1) as arrays in memory."""
        window = self._frames(s, frames)
        arrays = {
            name: self._read(self._root[f"frame/{name}"], window) for name in self.frame_arrays
        }
        return SequenceData(name=self.names[s], **arrays)

    def read_frame_array(self, s: int, name: str) -> np.ndarray:
        """One frame array (e.g. "action") of sequence `s`, without decoding the others."""
        if name not in self.frame_arrays:
            raise ValueError(f"{self.path} has no frame array {name!r}: {self.frame_arrays}")
        return self._read(self._root[f"frame/{name}"], self._frames(s, slice(None)))

    def sequence_meta(self, s: int) -> dict[str, Any]:
        """What the source said of sequence `s` beyond its arrays (`SequenceData.meta`, e.g.
        synth-hoi's task and object); {} where nothing, and in stores made before it was kept.
        Not part of `read_sequence`, which the loader calls per clip."""
        meta = self._optional("seq/meta")
        text = "" if meta is None else str(meta[s])
        return json.loads(text) if text else {}

    def _frames(self, s: int, frames: slice) -> range:
        """Store frame indices of `frames` (a slice within sequence s)."""
        window = range(*self.frame_range(s))[frames]
        if window.step < 1:
            raise ValueError(f"frames {frames} of sequence {s}: the step must be >= 1")
        return window

    def _read(self, array: zarr.Array, window: range, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Frames `window` of an array on the frame grid after `lead` indices: one contiguous
        read (the chunks a strided read would decode anyway), then every step-th frame."""
        try:
            return array[(*lead, slice(window.start, window.stop))][:: window.step]
        except (ValueError, RuntimeError) as error:  # zarr: checksum; blosc: decompression
            raise UnreadableError(
                f"{self.path}: frames {window.start}-{window.stop - 1} of {array.path} cannot be "
                f"read ({error}); run `c2p-data verify {self.path}`",
                str(error),
            ) from None

    def iter_sequences(self, split: int | None = None) -> Iterator[SequenceData]:
        """Every sequence (of one split, if given), one at a time."""
        splits = self.splits
        for s in range(self.num_sequences):
            if split is None or splits[s] == split:
                yield self.read_sequence(s)

    def iter_frame_blocks(self, name: str) -> Iterator[np.ndarray]:
        """Frame array `name` shard by shard, for statistics over stores larger than memory."""
        array = self._root[f"frame/{name}"]
        for start in range(0, self.num_frames, self.shard_frames):
            yield array[start : start + self.shard_frames]

    # ------------------------------------------------------------------ items and their files

    def items_done(
        self, sequences: Iterable[int] | None = None, view_sets: Iterable[str] = ()
    ) -> list[Item]:
        """The done items of these sequences (None: all): the sequences, then the views of
        them in each of `view_sets`, view by view."""
        chosen = np.arange(self.num_sequences)
        if sequences is not None:
            chosen = np.asarray(list(sequences), np.int64)
        items = [Item(int(s)) for s in chosen[self.done()[chosen]]]
        for name in view_sets:
            done = self.views_done(name)[:, chosen]
            items += [Item(int(chosen[j]), name, int(v)) for v, j in np.argwhere(done)]
        return items

    def is_done(self, item: Item) -> bool:
        if item.view_set is None:
            return bool(self._root["seq/done"][item.sequence])
        return bool(self._view_array(item.view_set, "done")[item.view, item.sequence])

    def describe(self, item: Item) -> str:
        """'sequence NAME', or 'view V of sequence NAME in view set SET'."""
        name = f"sequence {self.names[item.sequence]!r}"
        return (
            name
            if item.view_set is None
            else f"view {item.view} of {name} in view set {item.view_set!r}"
        )

    def parts(self, item: Item) -> list[Part]:
        """The arrays an item is written to, each with the shards its frames lie in, in the
        order of its digests."""
        start, stop = self.frame_range(item.sequence)
        if item.view_set is None:
            arrays, lead = [f"frame/{name}" for name in self.frame_arrays], ()
        else:
            arrays, lead = [f"view/{item.view_set}/{name}" for name in _VIEW_ARRAYS], (item.view,)
        return [Part(a, lead, self._shard_files(a, lead, start, stop)) for a in arrays]

    def _shard_files(
        self, array: str, lead: tuple[int, ...], start: int, stop: int
    ) -> tuple[StoreFile, ...]:
        """The shard files of frames [start, stop) of an array on the frame grid after `lead`."""
        node = self._metadata(array)
        inner = math.prod(s // c for s, c in zip(node.shards, node.chunks, strict=True))
        rest = (0,) * (node.ndim - len(lead) - 1)
        size = node.shards[len(lead)]
        return tuple(
            StoreFile(
                f"{array}/{node.metadata.encode_chunk_key((*lead, i, *rest))}",
                inner,
                range(max(start, i * size), min(stop, (i + 1) * size)),
            )
            for i in range(start // size, (stop - 1) // size + 1)
        )

    def _metadata(self, array: str) -> zarr.Array:
        """An array opened once for its metadata (grid, key encoding): opening reads a file, and
        the checks ask for the same few arrays for every item."""
        if array not in self._opened:
            self._opened[array] = self._root[array]
        return self._opened[array]

    def _optional(self, array: str) -> zarr.Array | None:
        """An array that stores made before it lack (seq/meta, a view set's up); None there."""
        try:
            return self._metadata(array)
        except KeyError:
            return None

    def digest_file(self, item: Item) -> StoreFile:
        """The file that holds an item's digests."""
        if item.view_set is None:
            array, index = "seq/digest", (item.sequence,)
        else:
            array, index = f"view/{item.view_set}/digest", (item.view, item.sequence)
        key = self._metadata(array).metadata.encode_chunk_key((*index, 0, 0))
        return StoreFile(f"{array}/{key}", 0)

    def stored_digests(self, view_set: str | None = None) -> np.ndarray:
        """uint8 [S, arrays, 16] of the sequences (a view set's: [V, S, arrays, 16]): the
        digests written with each item, its arrays in the order of `parts`."""
        array = "seq/digest" if view_set is None else f"view/{view_set}/digest"
        return self._root[array][:]

    def read_frames(self, part: Part, frames: range) -> np.ndarray:
        """Store frames `frames` of one of an item's arrays, as stored."""
        return self._read(self._root[part.array], frames, part.lead)

    def unmark(self, items: Iterable[Item]) -> None:
        """Clear the done flags of items (and the store's `complete` with a sequence's), so
        that the run that wrote them writes them again."""
        with naming(self.path):
            for item in items:
                if item.view_set is None:
                    self._root["seq/done"][item.sequence] = False
                    self._root.attrs["complete"] = self.attrs["complete"] = False
                else:
                    self._view_array(item.view_set, "done")[item.view, item.sequence] = False

    def remove_file(self, path: str) -> None:
        """Delete a file of the store (relative to it) that cannot be read; zarr then reads its
        fill value."""
        (self.path / path).unlink(missing_ok=True)

    # ------------------------------------------------------------------ checking

    def summary(self) -> StoreSummary:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return StoreSummary(
            self.num_sequences, self.num_frames, self.num_frames * self.points_per_frame, size
        )

    def validate(self) -> None:
        """A DataError naming what is wrong if the store is not complete and consistent."""
        problems = []
        offset = self.frame_offset
        if len(offset) < 2 or offset[0] != 0 or (np.diff(offset) <= 0).any():
            problems.append("seq/frame_offset is not strictly increasing from 0")
        for name in ("seq/name", "seq/split", "seq/label", "seq/done"):
            if self._root[name].shape != (self.num_sequences,):
                problems.append(f"{name} has shape {self._root[name].shape}")
        for name in _FRAME_ARRAYS:
            if name in self._root["frame"]:
                array = self._root[f"frame/{name}"]
                if array.shape[0] != self.num_frames:
                    problems.append(f"frame/{name} has {array.shape[0]} frames, not {offset[-1]}")
        missing = int((~self.done()).sum())
        if missing:
            problems.append(f"{missing} sequences are not written (run the same ingest again)")
        elif not self.complete:
            problems.append("the store is not marked complete (run the same ingest again)")
        if problems:
            raise DataError(f"{self.path}: " + "; ".join(problems))
