"""Backups of the whole store: one ``.tar.gz`` with a manifest, restored only into an empty store.

An archive holds ``manifest.json`` first (format, when, which Curator, and each file's size and
SHA-256), then every data file of the store under its own relative name (``items/3f.json``,
``users.json``, ``secret_key`` …).  It is consistent because the files are hard-linked under
the store lock (:meth:`curator.store.Store.freeze`: writers only ever rename new files into
place), so a backup taken while ``serve`` polls and editors approve holds one moment of the
store; the slow part (checking and compressing) happens after the lock is released.

``curator serve`` keeps ``store.backups`` daily archives in ``<store>/backups/``; ``curator
store repair`` takes what a damaged file lost from the newest of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from curator import __version__
from curator.exceptions import StoreError
from curator.store import TinyDBStore

__all__ = [
    "Archives",
    "BackupInfo",
    "archives_for_repair",
    "backup",
    "daily",
    "default_dir",
    "latest",
    "restore",
    "rotate",
]

log = logging.getLogger("curator.backup")

FORMAT = "curator-backup/1"
MANIFEST = "manifest.json"
_NAME = re.compile(r"curator-backup-(\d{8}T\d{6}Z)\.tar\.gz\Z")
_MAX_MEMBER = 1 << 30  # no store file comes near a gigabyte; a bigger member is not ours


@dataclass(frozen=True)
class BackupInfo:
    """One archive: where, when, and what it holds."""

    path: Path
    created_at: datetime
    files: int
    items: int
    size: int
    left_out: tuple[str, ...] = ()  # damaged files that could not be backed up


def default_dir(store: TinyDBStore) -> Path:
    return store.path / "backups"


def archive_name(now: datetime) -> str:
    return f"curator-backup-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.tar.gz"


def backup(store: TinyDBStore, out: Path, *, now: datetime) -> BackupInfo:
    """Write the whole store into the archive *out* (replaced atomically; mode 0600, since it
    holds password hashes and the session key).  Damaged files are left out and named."""
    out = out.absolute()
    _sweep(store.path)
    snap = store.path / f".backup-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    snap.mkdir()
    try:
        names = store.freeze(snap)
        left_out = {d.name for d in TinyDBStore(snap).damage(deep=True)}
        files: dict[str, dict[str, Any]] = {}
        for name in names:
            if name in left_out:
                log.error("backup leaves out a damaged file path=%s", store.path / name)
                continue
            data = (snap / name).read_bytes()
            files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        items = sum(len(_table(snap / n, "items")) for n in files if n.startswith("items/"))
        manifest = {
            "format": FORMAT,
            "created_at": now.astimezone(UTC).isoformat(),
            "curator": __version__,
            "store": str(store.path),
            "items": items,
            "files": files,
            "left_out": sorted(left_out),
        }
        size = _write_archive(out, snap, manifest)
    except OSError as e:
        raise StoreError(f"cannot write the backup {out}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(snap, ignore_errors=True)
    log.info("backed up store=%s to=%s files=%d items=%d", store.path, out, len(files), items)
    return BackupInfo(out, now, len(files), items, size, tuple(sorted(left_out)))


def _sweep(directory: Path) -> None:
    """Remove the hard-link folders of backups whose process died before cleaning up."""
    for path in directory.glob(".backup-*-*.tmp"):
        found = re.fullmatch(r"\.backup-(\d+)-[0-9a-f]{8}\.tmp", path.name)
        if found is None or not path.is_dir():
            continue
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed the folder of an interrupted backup path=%s", path)
        except OSError:
            continue


def _table(path: Path, name: str) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    table = data.get(name, {}) if isinstance(data, dict) else {}
    return table if isinstance(table, dict) else {}


def _write_archive(out: Path, snap: Path, manifest: dict[str, Any]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            body = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(body))
            for name in manifest["files"]:
                member = tar.gettarinfo(str(snap / name), arcname=name)
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                with open(snap / name, "rb") as f:
                    tar.addfile(member, f)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dfd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return out.stat().st_size


def read_archive(path: Path, store: TinyDBStore) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and files of an archive, every file checked against the manifest.

    Raises StoreError naming the archive and what is wrong with it."""

    def bad(why: str) -> StoreError:
        return StoreError(f"{path}: not a usable Curator backup: {why}")

    files: dict[str, bytes] = {}
    manifest: Any = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or member.size > _MAX_MEMBER:
                    raise bad(f"unexpected member {member.name!r}")
                if member.name != MANIFEST and not store.is_data_name(member.name):
                    raise bad(f"{member.name!r} is not a file of a Curator store")
                f = tar.extractfile(member)
                assert f is not None  # a regular file
                data = f.read()
                if member.name == MANIFEST:
                    manifest = json.loads(data)
                else:
                    files[member.name] = data
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except (OSError, EOFError, tarfile.TarError, ValueError) as e:
        raise bad(f"cannot read it as a .tar.gz ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"no {MANIFEST} of format {FORMAT}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(files):
        raise bad("its files are not the ones its manifest lists")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name].get("sha256"):
            raise bad(f"{name} does not match its checksum")
    return manifest, files


@dataclass(frozen=True)
class RestoreInfo:
    archive: Path
    created_at: str
    files: int
    items: int


def restore(store: TinyDBStore, archive: Path) -> RestoreInfo:
    """Fill the EMPTY *store* from *archive* (StoreError if it is not empty or the archive
    is not sound; nothing is written then)."""
    manifest, files = read_archive(archive, store)
    store.load_files(files)
    damaged = store.damage(deep=True)
    if damaged:
        raise StoreError(f"restored from {archive}, but {damaged[0]}")
    items = sum(store.counts().values())
    log.info("restored store=%s from=%s files=%d items=%d", store.path, archive, len(files), items)
    return RestoreInfo(archive, str(manifest.get("created_at", "")), len(files), items)


def archives(directory: Path) -> list[Path]:
    """The archives this module named in *directory*, oldest first."""
    try:
        names = sorted(p.name for p in directory.iterdir() if _NAME.match(p.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / n for n in names]


def latest(directory: Path) -> Path | None:
    found = archives(directory)
    return found[-1] if found else None


def taken_at(path: Path) -> datetime | None:
    found = _NAME.match(path.name)
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest *keep* archives; the ones deleted."""
    old = archives(directory)[: max(0, len(archives(directory)) - keep)]
    for path in old:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return old


def daily(store: TinyDBStore, keep: int, now: datetime) -> BackupInfo | None:
    """The scheduler's job: a new archive when the newest is a day old (or none exists), then
    keep only *keep*.  None when no backup was due."""
    directory = default_dir(store)
    last = latest(directory)
    when = taken_at(last) if last is not None else None
    if when is not None and now - when < timedelta(hours=23):
        return None
    info = backup(store, directory / archive_name(now), now=now)
    for gone in rotate(directory, keep):
        log.info("removed an old backup path=%s", gone)
    return info


class Archives:
    """The files of several archives, newest first, for :meth:`Store.repair`: a file is taken
    from the newest archive that holds it (a daily backup leaves out a file that was already
    damaged, so an older one may still have it).  Archives are read only when needed."""

    def __init__(self, paths: Sequence[Path], store: TinyDBStore) -> None:
        self._paths = list(paths)
        self._store = store
        self._read: list[tuple[Path, dict[str, bytes]]] = []
        self.used: dict[str, Path] = {}  # file name -> the archive it came from
        self.unusable: dict[Path, str] = {}  # archive -> why it could not be read

    def __call__(self, name: str) -> bytes | None:
        for path, files in self._archives():
            if name in files:
                self.used[name] = path
                return files[name]
        return None

    def _archives(self) -> Iterator[tuple[Path, dict[str, bytes]]]:
        yield from self._read
        while self._paths:
            path = self._paths.pop(0)
            try:
                _, files = read_archive(path, self._store)
            except StoreError as e:
                log.warning("cannot use a backup path=%s error=%s", path, e)
                self.unusable[path] = str(e)
                continue
            self._read.append((path, files))
            yield path, files


def archives_for_repair(store: TinyDBStore, chosen: Path | None) -> Archives:
    """The archive named by ``--from``, else every archive in ``<store>/backups/``, newest
    first."""
    paths = [chosen] if chosen is not None else archives(default_dir(store))[::-1]
    return Archives(paths, store)
