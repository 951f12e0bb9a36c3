"""OpenTimestamps proofs for anchors.

An anchor's ``.ots`` file is a standard ``DetachedTimestampFile`` (python-opentimestamps)
for the anchored 32-byte root. Its commitment path is exactly what Bitcoin gives:

    root  --prepend/append the rest of the anchor transaction-->  sha256 sha256 = txid
          --Bitcoin merkle path of the block-->                   header merkle root
          --BitcoinBlockHeaderAttestation(height)

The file's "file hash" is the root itself: an RFC 9162 root is the SHA-256 of the tree's top
node (``0x01 || left || right``; ``0x00 || d`` for a one-leaf tree; the empty string for an
empty day), so that preimage is the timestamped "file". ``ots verify -d <root>`` with a node
that follows our chain, or :func:`verify_ots` here, checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bitcoin.core import CBlock, CBlockHeader
from opentimestamps.bitcoin import make_timestamp_from_block
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation
from opentimestamps.core.op import OpSHA256
from opentimestamps.core.serialize import (
    BytesDeserializationContext,
    BytesSerializationContext,
    DeserializationError,
)
from opentimestamps.core.timestamp import DetachedTimestampFile

from clearing.chain import Anchor


class OtsError(ValueError):
    """A ``.ots`` file that cannot be built or does not verify."""


@dataclass(frozen=True)
class OtsResult:
    digest: bytes  # what was timestamped: the anchored root
    height: int
    time: int  # the attesting block's nTime


def build_ots(anchor: Anchor, raw_block: bytes) -> bytes:
    """The serialized ``.ots`` file proving ``anchor.root`` by the block at its height."""
    block = CBlock.deserialize(raw_block)
    timestamp = make_timestamp_from_block(anchor.root, block, anchor.height)
    if timestamp is None:
        raise OtsError(f"The root is not in block {anchor.height}.")
    ctx = BytesSerializationContext()
    DetachedTimestampFile(OpSHA256(), timestamp).serialize(ctx)
    return ctx.getbytes()


def parse_ots(data: bytes) -> DetachedTimestampFile:
    try:
        return DetachedTimestampFile.deserialize(BytesDeserializationContext(data))
    except (DeserializationError, ValueError, TypeError) as exc:
        raise OtsError(f"Not a valid .ots file: {exc}") from exc


def verify_ots(data: bytes, header_at: Callable[[int], bytes]) -> OtsResult:
    """Check every Bitcoin attestation in ``data`` against the header ``header_at(height)``
    (80 bytes) returns; raise ``OtsError`` unless there is one and all pass."""
    detached = parse_ots(data)
    results = []
    for msg, attestation in detached.timestamp.all_attestations():
        if not isinstance(attestation, BitcoinBlockHeaderAttestation):
            raise OtsError(f"Unexpected attestation {attestation!r}.")
        try:
            header = CBlockHeader.deserialize(header_at(attestation.height))
        except KeyError:
            raise OtsError(f"No block at height {attestation.height}.") from None
        try:
            block_time = attestation.verify_against_blockheader(msg, header)
        except Exception as exc:  # opentimestamps' VerificationError
            raise OtsError(f"Attestation at height {attestation.height} fails: {exc}") from exc
        results.append(OtsResult(detached.file_digest, attestation.height, block_time))
    if not results:
        raise OtsError("The .ots file has no Bitcoin attestation.")
    return results[0]
