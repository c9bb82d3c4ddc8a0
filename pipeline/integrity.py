"""Is a store what was written? Damage is found before anyone trains on it.

zarr reads a missing file as its fill value, so a store that lost a file reads back as zeros
and looks fine. Two checks find what is damaged, item by item (a sequence, or one view of one
sequence; `store.Item`), among the items marked done:

- `damage`, the cheap check that `info`, resumed runs, `preview` and the trainer's loader make
  on every open: every file a done item needs exists and, for a shard, its index fits the file.
  No frame is decoded: a shard ends with its index (zarr's sharding codec: per inner chunk an
  (offset, length) pair of little-endian uint64, both 2**64 - 1 for an empty chunk, then a
  4-byte crc32c of the index); a truncated shard has lost that tail, and the pairs read from
  what is left point past its end.
- `Verification`, the full check of `c2p-data verify`: reads every done item and compares each
  of its arrays with the digest written with it; a file that zarr cannot decode (a checksum
  that does not match, a chunk that does not decompress) is named too.

`forget` turns damage into work: it deletes the files that cannot be read (a write that merges
into a shard would read them) and clears the done flags of the damaged items and of every other
item that needed a deleted file, so that re-running the command that wrote them rewrites them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.store import Item, Part, Store, StoreFile, UnreadableError, hasher

_EMPTY_CHUNK = np.uint64(2**64 - 1)  # a shard index's offset and length of an absent chunk
_INDEX_CHECKSUM_BYTES = 4


@dataclass(frozen=True)
class Damage:
    """One way a done item is not what was written."""

    item: Item
    what: str  # Store.describe(item)
    files: tuple[str, ...]  # relative to the store
    problem: str  # e.g. "is missing"
    unreadable: bool  # the files themselves (not only the item's content) are damaged

    def line(self) -> str:
        return f"{self.what}: {', '.join(self.files)} {self.problem}"


def file_problem(path: Path, inner_chunks: int) -> str | None:
    """What is wrong with a file of the store without decoding it; None if nothing is seen."""
    try:
        size = path.stat().st_size
        if not inner_chunks:
            return None
        tail = 16 * inner_chunks + _INDEX_CHECKSUM_BYTES
        if size < tail:
            return "is truncated (shorter than its shard index)"
        with path.open("rb") as handle:
            handle.seek(size - tail)
            index = np.frombuffer(handle.read(16 * inner_chunks), "<u8").reshape(-1, 2)
    except FileNotFoundError:
        return "is missing"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    used = index[(index != _EMPTY_CHUNK).any(1)]
    room = np.uint64(size - tail)
    if ((used[:, 0] > room) | (used[:, 1] > room - np.minimum(used[:, 0], room))).any():
        return "is truncated or damaged (its shard index points past its end)"
    return None


def damage(store: Store, items: Iterable[Item]) -> list[Damage]:
    """The cheap check: per done item, each of its files that is missing or truncated."""
    seen: dict[str, str | None] = {}  # neighbouring items share shards: look at each once
    found = []
    for item in items:
        for file in _files(store, item):
            if file.path not in seen:
                seen[file.path] = file_problem(store.path / file.path, file.inner_chunks)
            if seen[file.path]:
                found.append(
                    Damage(item, store.describe(item), (file.path,), seen[file.path], True)
                )
    return found


def require_written(store: Store, items: list[Item]) -> None:
    """A DataError if one of these items was never written (not marked done) or is damaged."""
    for item in items:
        if not store.is_done(item):
            command = "ingest" if item.view_set is None else "partial-views"
            raise DataError(
                f"{store.path}: {store.describe(item)} was never written (its run did not get "
                f"to it): run the same `c2p-data {command}` again"
            )
    require_undamaged(store, items)


def require_undamaged(store: Store, items: Iterable[Item]) -> None:
    """A DataError naming what the cheap check finds wrong with these items, if anything."""
    found = damage(store, items)
    if found:
        shown = "; ".join(d.line() for d in found[:3]) + ("; ..." if len(found) > 3 else "")
        raise DataError(
            f"{store.path} is damaged ({shown}): run `c2p-data verify {store.path}` to see all, "
            "then the same `c2p-data ingest` or `partial-views` again, which writes it again"
        )


class Verification:
    """The full check of `items`: first the cheap one, then every shard that holds frames of
    a done item is read once, feeding each item's digests frame by frame, and each item's
    arrays are compared with the digests written with them. `frames` is how many frames the
    shards hold (for a progress bar); `run` yields (frames read, damage found) as it goes."""

    def __init__(self, store: Store, items: Iterable[Item]) -> None:
        self.store = store
        self.items = list(items)
        self.cheap = damage(store, self.items)
        broken = {d.item for d in self.cheap}
        # Per shard of an (array, lead) row, the (item, its part index, frames) it holds, in
        # the items' order: so each item's pieces come in frame order.
        self.shards: dict[str, tuple[Part, list[tuple[Item, int, range]]]] = {}
        for item in self.items:
            if item in broken:
                continue
            for k, part in enumerate(store.parts(item)):
                for file in part.files:
                    self.shards.setdefault(file.path, (part, []))[1].append((item, k, file.frames))
        self.frames = sum(len(_span(uses)) for _, uses in self.shards.values())

    def run(self) -> Iterator[tuple[int, list[Damage]]]:
        yield 0, self.cheap
        hashers = {}
        unreadable: set[Item] = set()
        for path, (part, uses) in self.shards.items():
            span = _span(uses)
            try:
                block = self.store.read_frames(part, span)
            except UnreadableError as error:
                found = [self._damage(item, (path,), f"cannot be read ({error.reason})", True)
                         for item in dict.fromkeys(item for item, _, _ in uses)]  # fmt: skip
                unreadable.update(d.item for d in found)
                yield len(span), found
                continue
            for item, k, frames in uses:
                piece = block[frames.start - span.start : frames.stop - span.start]
                hashers.setdefault((item, k), hasher()).update(np.ascontiguousarray(piece).data)
            yield len(span), []
        yield 0, self._mismatches(hashers, unreadable)

    def _mismatches(self, hashers: dict, unreadable: set[Item]) -> list[Damage]:
        kinds = {item.view_set for item in self.items}
        stored = {name: self.store.stored_digests(name) for name in kinds}
        found = []
        for (item, k), hashed in hashers.items():
            index = (item.sequence,) if item.view_set is None else (item.view, item.sequence)
            want = stored[item.view_set][index][k]
            if item not in unreadable and hashed.digest() != want.tobytes():
                part = self.store.parts(item)[k]
                files = tuple(file.path for file in part.files)
                found.append(self._damage(item, files, "differs from its digest", False))
        return found

    def _damage(self, item: Item, files: tuple[str, ...], problem: str, bad: bool) -> Damage:
        return Damage(item, self.store.describe(item), files, problem, bad)


def _span(uses: list[tuple[Item, int, range]]) -> range:
    """The frames of a shard that its uses need, as one contiguous range."""
    return range(min(f.start for _, _, f in uses), max(f.stop for _, _, f in uses))


def forget(store: Store, found: list[Damage]) -> list[Item]:
    """Delete the unreadable files of `found` and clear the done flags of its items and of every
    other done item of the same kind that needed a deleted file; returns the items cleared."""
    removed = {path for d in found if d.unreadable for path in d.files}
    for path in removed:
        store.remove_file(path)
    kinds = {d.item.view_set for d in found}
    sets = sorted(k for k in kinds if k is not None)
    candidates = [i for i in store.items_done(view_sets=sets) if i.view_set in kinds]
    needing = [i for i in candidates if removed & {f.path for f in _files(store, i)}]
    items = sorted({d.item for d in found} | set(needing), key=_order)
    store.unmark(items)
    return items


def _files(store: Store, item: Item) -> list[StoreFile]:
    return [f for part in store.parts(item) for f in part.files] + [store.digest_file(item)]


def _order(item: Item) -> tuple:
    return (item.view_set or "", item.view or 0, item.sequence)
