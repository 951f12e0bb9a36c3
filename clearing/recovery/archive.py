"""The backup file: a logical dump, gzip-compressed, encrypted with AES-256-GCM.

Layout (``FORMAT``)::

    b"FSBXBAK1"                 magic
    4 bytes, big-endian         length of the manifest
    manifest                    JSON, UTF-8 (readable without the key)
    12 bytes                    GCM nonce
    ciphertext                  AES-256-GCM of gzip(dump)
    16 bytes                    GCM tag

The magic, the length and the manifest are the cipher's associated data: they are readable
without the key (to list backups and pick the newest), but a changed byte anywhere, in the
manifest or the dump, fails the tag. The manifest holds the dump's SHA-256 (checked after
decompression, a second line) and the id of the key that encrypted it.

Keys come from ``SANDBOX_BACKUP_KEY`` (or ``SANDBOX_BACKUP_KEY_FILE``): a list of secrets,
newest first; the first encrypts, every one decrypts (so old backups stay readable after a
rotation). Each AES key is HKDF-SHA256 of its secret. With no key set, development (DEBUG)
uses a key derived from ``SECRET_KEY``; production refuses to write or read backups.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

FORMAT = "fsbx-backup/1"
MAGIC = b"FSBXBAK1"
CIPHER = "AES-256-GCM"
COMPRESSION = "gzip"
NONCE_SIZE = 12
TAG_SIZE = 16
CHUNK = 1024 * 1024
MAX_MANIFEST = 1024 * 1024
DEVELOPMENT_KEY_ID = "development"


class BackupError(Exception):
    """A backup that cannot be written, read or trusted; the message says why."""


class BackupKeyError(BackupError):
    """No backup key, or not the key this backup was encrypted under."""


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fsbx-backup", info=info).derive(secret)


def key_id(secret: str) -> str:
    return _hkdf(secret.encode(), b"key-id").hex()[:16]


@dataclass(frozen=True)
class BackupKeys:
    primary: str
    keys: dict[str, bytes]  # key id -> AES-256 key


def backup_keys() -> BackupKeys:
    secrets = list(getattr(settings, "SANDBOX_BACKUP_KEY", None) or [])
    if secrets:
        keys = {key_id(s): _hkdf(s.encode(), b"aes-256-gcm") for s in secrets}
        return BackupKeys(next(iter(keys)), keys)
    if not settings.DEBUG:
        raise BackupKeyError(
            "SANDBOX_BACKUP_KEY (or SANDBOX_BACKUP_KEY_FILE) must be set to write or read "
            "backups outside development; keep it apart from the backups (docs/operations.md)."
        )
    development = _hkdf(str(settings.SECRET_KEY).encode(), b"development-backup-key")
    return BackupKeys(DEVELOPMENT_KEY_ID, {DEVELOPMENT_KEY_ID: development})


def _associated(manifest_bytes: bytes) -> bytes:
    return MAGIC + struct.pack(">I", len(manifest_bytes)) + manifest_bytes


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def file_sha256(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(stream):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def write(manifest: dict[str, Any], dump: IO[bytes], out: IO[bytes]) -> dict[str, Any]:
    """Write ``dump`` (read from its start) to ``out`` as a backup file. Fills in the
    manifest's cipher fields and the dump's checksum, and returns the manifest written."""
    keys = backup_keys()
    dump.seek(0)
    sha256, size = file_sha256(dump)
    manifest = {
        **manifest,
        "format": FORMAT,
        "cipher": CIPHER,
        "compression": COMPRESSION,
        "key_id": keys.primary,
        "dump": {**manifest.get("dump", {}), "sha256": sha256, "bytes": size},
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    nonce = os.urandom(NONCE_SIZE)
    encryptor = Cipher(algorithms.AES(keys.keys[keys.primary]), modes.GCM(nonce)).encryptor()
    associated = _associated(manifest_bytes)
    encryptor.authenticate_additional_data(associated)
    out.write(associated + nonce)
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    dump.seek(0)
    for chunk in _chunks(dump):
        out.write(encryptor.update(compressor.compress(chunk)))
    out.write(encryptor.update(compressor.flush()) + encryptor.finalize() + encryptor.tag)
    return manifest


def read_manifest(stream: IO[bytes]) -> dict[str, Any]:
    """The manifest at the head of a backup file (unauthenticated until ``read`` ends)."""
    return _read_head(stream)[0]


def _read_head(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    head = stream.read(len(MAGIC) + 4)
    if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
        raise BackupError("Not a sandbox backup file (its first bytes are not FSBXBAK1).")
    (length,) = struct.unpack(">I", head[len(MAGIC) :])
    if length > MAX_MANIFEST:
        raise BackupError(f"The manifest claims {length} bytes: not a sandbox backup file.")
    manifest_bytes = stream.read(length)
    try:
        manifest: dict[str, Any] = json.loads(manifest_bytes)
    except ValueError as exc:
        raise BackupError(f"The manifest is not JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}; {FORMAT} expected.")
    return manifest, manifest_bytes


def read(stream: IO[bytes], out: IO[bytes], *, name: str = "the backup") -> dict[str, Any]:
    """Decrypt and decompress the backup in ``stream`` into ``out``; return its manifest.

    ``out`` holds unauthenticated bytes until this returns: use it only then. Raises
    ``BackupKeyError`` for a key that is missing or not the backup's, ``BackupError`` for a
    file that was changed (the tag, or the dump's checksum, does not match)."""
    manifest, manifest_bytes = _read_head(stream)
    keys = backup_keys()
    kid = manifest.get("key_id")
    key = keys.keys.get(str(kid))
    if key is None:
        held = ", ".join(keys.keys) or "none"
        raise BackupKeyError(
            f"{name} was encrypted under backup key {kid}, which SANDBOX_BACKUP_KEY does not "
            f"hold (it holds {held}): restore the backup key that was in use when it was made."
        )
    nonce = stream.read(NONCE_SIZE)
    decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).decryptor()
    decryptor.authenticate_additional_data(_associated(manifest_bytes))
    decompressor = zlib.decompressobj(31)
    digest = hashlib.sha256()
    tail = b""
    broken: str | None = None  # decompression failed: the tag still says why

    def take(data: bytes, *, last: bool = False) -> None:
        nonlocal broken
        if broken is not None:
            return
        try:
            plain = decompressor.decompress(data) + (decompressor.flush() if last else b"")
        except zlib.error as exc:
            broken = str(exc)
            return
        digest.update(plain)
        out.write(plain)

    for chunk in _chunks(stream):
        data = tail + chunk
        body, tail = data[:-TAG_SIZE], data[-TAG_SIZE:]
        take(decryptor.update(body))
    if len(tail) < TAG_SIZE:
        raise BackupError(f"{name} is truncated.")
    try:
        take(decryptor.finalize_with_tag(tail), last=True)
    except InvalidTag:
        raise BackupError(
            f"{name} does not decrypt under backup key {kid}: the file was changed after it "
            "was written (or is not the one its manifest describes)."
        ) from None
    if broken is not None:
        raise BackupError(f"{name} does not decompress: {broken}")
    if digest.hexdigest() != manifest["dump"]["sha256"]:
        raise BackupError(f"{name}: the dump's SHA-256 is not the manifest's.")
    return manifest
