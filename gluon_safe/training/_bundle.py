"""The on-disk checkpoint bundle: atomic writes, pointers, checksums.

A checkpoint directory contains one sub-directory per bundle and small pointer files::

    checkpoints/
        latest              text: the name of the newest complete bundle
        best                text: the name of the best bundle (with save_best)
        epoch-0003/
            model.params        net.save_parameters format
            trainer.states      optimizer and its states (a pickle)
            arrays.npz          numpy arrays of callback states
            checkpoint.json     counters, history, callback states, checksums

A bundle is written into a hidden temporary directory, flushed to disk and renamed into
place, and only then does ``latest`` (replaced atomically) point to it. A crash at any
moment leaves ``latest`` naming a complete bundle. ``checkpoint.json`` is written last
and stores the SHA-256 of every other file, so a truncated or edited file is detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ..errors import CheckpointError

__all__ = ["Bundle", "read_bundle", "write_bundle"]

FORMAT = "gluon_safe.checkpoint"
VERSION = 1
MANIFEST = "checkpoint.json"
PARAMS = "model.params"
TRAINER = "trainer.states"
ARRAYS = "arrays.npz"
LATEST = "latest"
BEST = "best"
TEMP_PREFIX = ".tmp-"

_BUNDLE_NAME = re.compile(r"^epoch-(\d+)(?:-(\d+))?$")

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Bundle:
    """A checkpoint bundle read from disk and verified against its checksums.

    Attributes
    ----------
    path : str
        The bundle directory.
    manifest : dict
        The content of ``checkpoint.json``.
    params_file : str
        Path of the parameter file, for ``net.load_parameters``.
    trainer_states : bytes
        The pickled optimizer and its states.
    arrays : dict of str to numpy.ndarray
        The arrays that callback states refer to.
    """

    path: str
    manifest: Dict[str, Any]
    params_file: str
    trainer_states: bytes
    arrays: Dict[str, np.ndarray[Any, Any]]

    @property
    def epoch(self) -> int:
        """The last finished epoch stored in the bundle."""
        return int(self.manifest["epoch"])


def bundle_name(epoch: int, directory: str) -> str:
    """Return an unused bundle name for ``epoch``: ``epoch-0003``, else ``epoch-0003-1``, ..."""
    name = f"epoch-{epoch:04d}"
    suffix = 0
    while os.path.exists(os.path.join(directory, name if suffix == 0 else f"{name}-{suffix}")):
        suffix += 1
    return name if suffix == 0 else f"{name}-{suffix}"


def write_bundle(
    directory: PathLike,
    epoch: int,
    *,
    save_params: Callable[[str], None],
    trainer_states: bytes,
    manifest: Dict[str, Any],
    arrays: Dict[str, np.ndarray[Any, Any]],
) -> str:
    """Write one bundle atomically and point ``latest`` at it; return its name.

    Parameters
    ----------
    directory : str or path-like
        The checkpoint directory, created if missing.
    epoch : int
        The last finished epoch, which names the bundle.
    save_params : callable
        ``save_params(path)`` writes the parameters, e.g. ``net.save_parameters``.
    trainer_states : bytes
        From :func:`~gluon_safe.training._trainer_state.dump_trainer_state`.
    manifest : dict
        JSON-serializable content; format, version and checksums are added.
    arrays : dict of str to numpy.ndarray
        Arrays referred to by the manifest.
    """
    root = os.fspath(directory)
    os.makedirs(root, exist_ok=True)
    temp = os.path.join(root, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    os.mkdir(temp)
    try:
        save_params(os.path.join(temp, PARAMS))
        _write_bytes(os.path.join(temp, TRAINER), trainer_states)
        with open(os.path.join(temp, ARRAYS), "wb") as handle:
            np.savez(handle, **arrays)
            _sync(handle)

        files = {name: _sha256(os.path.join(temp, name)) for name in (PARAMS, TRAINER, ARRAYS)}
        content = {"format": FORMAT, "version": VERSION, **manifest, "files": files}
        _write_bytes(os.path.join(temp, MANIFEST),
                     json.dumps(content, indent=1, sort_keys=True).encode("utf-8"))
        _sync_directory(temp)

        name = bundle_name(epoch, root)
        os.rename(temp, os.path.join(root, name))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _sync_directory(root)
    write_pointer(root, LATEST, name)
    return name


def write_pointer(directory: str, pointer: str, name: str) -> None:
    """Replace the pointer file ``pointer`` atomically with the bundle name ``name``."""
    temp = os.path.join(directory, f"{TEMP_PREFIX}{pointer}-{uuid.uuid4().hex}")
    _write_bytes(temp, (name + "\n").encode("utf-8"))
    os.replace(temp, os.path.join(directory, pointer))
    _sync_directory(directory)


def read_pointer(directory: str, pointer: str) -> Optional[str]:
    """Return the bundle name stored in ``pointer``, or None if there is no such file."""
    path = os.path.join(directory, pointer)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip() or None


def list_bundles(directory: str) -> List[Tuple[int, str]]:
    """Return ``(epoch, name)`` of every complete-looking bundle, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _BUNDLE_NAME.match(name)
        if match and os.path.isdir(os.path.join(directory, name)):
            found.append((int(match.group(1)), int(match.group(2) or 0), name))
    return [(epoch, name) for epoch, _, name in sorted(found)]


def remove_leftovers(directory: str) -> None:
    """Delete temporary files and directories that an interrupted write left behind."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.startswith(TEMP_PREFIX):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def resolve_bundle(path: PathLike) -> str:
    """Return the bundle directory that ``path`` designates.

    ``path`` is a bundle directory, or a checkpoint directory whose ``latest`` pointer
    names one.

    Raises
    ------
    CheckpointError
        If ``path`` does not exist, or is neither a bundle nor a checkpoint directory,
        or its ``latest`` is empty or names a missing bundle.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise CheckpointError(f"checkpoint {root} does not exist or is not a directory")
    if os.path.exists(os.path.join(root, MANIFEST)):
        return root
    latest = read_pointer(root, LATEST)
    pointer_path = os.path.join(root, LATEST)
    if latest is None and os.path.isfile(pointer_path):
        raise CheckpointError(f"checkpoint file {pointer_path} is empty, so it names no "
                              f"bundle; pass one of the bundle directories in {root} instead")
    if latest is None:
        raise CheckpointError(
            f"{root} is not a gluon_safe checkpoint: it contains neither {MANIFEST} nor a "
            f"'{LATEST}' pointer. Pass the directory given to Checkpoint, or one bundle in it."
        )
    bundle = os.path.join(root, latest)
    if not os.path.isdir(bundle):
        raise CheckpointError(f"checkpoint file {pointer_path} names the bundle {latest!r}, "
                              f"which does not exist in {root}")
    return bundle


def read_bundle(path: PathLike) -> Bundle:
    """Read and verify the bundle that ``path`` designates.

    Raises
    ------
    CheckpointError
        Naming the file: a missing or unreadable file, a manifest that is not
        gluon_safe's JSON (a foreign or truncated checkpoint), a newer format
        version, or a file whose checksum differs from the manifest's.
    """
    bundle = resolve_bundle(path)
    manifest_path = os.path.join(bundle, MANIFEST)
    manifest = _read_manifest(manifest_path)

    for name, expected in manifest["files"].items():
        file_path = os.path.join(bundle, name)
        if not os.path.isfile(file_path):
            raise CheckpointError(f"checkpoint file {file_path} is missing; the bundle is "
                                  "incomplete. Resume from another bundle.")
        if _sha256(file_path) != expected:
            raise CheckpointError(f"checkpoint file {file_path} is truncated or was modified: "
                                  f"its SHA-256 differs from the one in {MANIFEST}. Resume "
                                  "from another bundle.")

    with open(os.path.join(bundle, TRAINER), "rb") as handle:
        trainer_states = handle.read()
    arrays_path = os.path.join(bundle, ARRAYS)
    try:
        with np.load(arrays_path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint file {arrays_path} cannot be read: {error}") from error
    return Bundle(bundle, manifest, os.path.join(bundle, PARAMS), trainer_states, arrays)


def _read_manifest(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint file {path} is truncated or is not JSON "
                              f"({error}); the bundle is damaged") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint file {path} was not written by gluon_safe: "
                              f"expected 'format': {FORMAT!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"checkpoint file {path} has format version {version!r}; this "
                              f"gluon_safe reads versions up to {VERSION}. Upgrade gluon_safe.")
    if not isinstance(manifest.get("files"), dict):
        raise CheckpointError(f"checkpoint file {path} lists no checksums; the bundle is damaged")
    return manifest


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        _sync(handle)


def _sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_directory(path: str) -> None:
    # Makes a rename durable. Windows cannot open a directory, and needs no such step.
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
