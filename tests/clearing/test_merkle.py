"""RFC 9162 Merkle trees: the certificate-transparency known answers, an independent
implementation (pymerkle), and every way of bending a proof."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from clearing.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# Known answers from google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc.
# There, leaf numbers in paths count from one; here indices count from zero.
CT_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf number counting from one, tree size, path)
CT_PATHS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (first size, second size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CT_TREE = MerkleTree.from_leaves(CT_INPUTS)


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# --- Reference implementation: the RFC's recursive definitions, transcribed literally ----


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [ref_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, d[:k], complete), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- Known answers ----------------------------------------------------------------------


def test_it_hashes_the_empty_tree_to_the_hash_of_nothing():
    assert MerkleTree.from_leaves([]).root.hex() == CT_EMPTY
    assert merkle_root([]).hex() == CT_EMPTY
    assert EMPTY_ROOT.hex() == CT_EMPTY
    assert CT_TREE.root_at(0).hex() == CT_EMPTY


@pytest.mark.parametrize("size", range(1, 9))
def test_it_matches_the_certificate_transparency_roots(size):
    assert MerkleTree.from_leaves(CT_INPUTS[:size]).root.hex() == CT_ROOTS[size - 1]
    assert merkle_root(CT_INPUTS[:size]).hex() == CT_ROOTS[size - 1]
    assert CT_TREE.root_at(size).hex() == CT_ROOTS[size - 1]


def test_it_keeps_the_level_counts_of_the_reference_tree():
    counts = [MerkleTree.from_leaves(CT_INPUTS[:n]).levels for n in range(1, 9)]
    assert counts == [1, 2, 3, 3, 4, 4, 4, 4]


@pytest.mark.parametrize(("leaf", "size", "path"), CT_PATHS)
def test_it_matches_the_certificate_transparency_paths(leaf, size, path):
    assert hexes(CT_TREE.inclusion_proof(leaf - 1, size)) == path
    small = MerkleTree.from_leaves(CT_INPUTS[:size])
    assert hexes(small.inclusion_proof(leaf - 1)) == path
    proof = [bytes.fromhex(p) for p in path]
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert verify_inclusion(leaf_hash(CT_INPUTS[leaf - 1]), leaf - 1, size, proof, root)


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_it_matches_the_certificate_transparency_consistency_proofs(first, second, proof):
    assert hexes(CT_TREE.consistency_proof(first, second)) == proof
    assert verify_consistency(
        first,
        second,
        bytes.fromhex(CT_ROOTS[first - 1]),
        bytes.fromhex(CT_ROOTS[second - 1]),
        [bytes.fromhex(p) for p in proof],
    )


# --- The reference implementation, exhaustively on small trees ---------------------------

DATA = [i.to_bytes(2, "big") * (i % 5 + 1) for i in range(70)]  # all distinct
DATA_TREE = MerkleTree.from_leaves(DATA)


def test_it_agrees_with_the_recursive_definitions_on_every_small_tree():
    for n in range(1, 40):
        assert DATA_TREE.root_at(n) == ref_mth(DATA[:n])
        for m in range(1, n + 1):
            assert DATA_TREE.consistency_proof(m, n) == ref_subproof(m, DATA[:n], True)
            proof = DATA_TREE.inclusion_proof(m - 1, n)
            assert root_from_inclusion_proof(leaf_hash(DATA[m - 1]), m - 1, n, proof) == ref_mth(
                DATA[:n]
            )


# --- Independent implementation: pymerkle ----------------------------------------------


def pymerkle_tree(leaves: list[bytes]) -> InmemoryTree:
    # pymerkle's default hashing is RFC 9162's: sha256 with the 0x00 / 0x01 prefixes
    # ("security" on), and its tree splits at the largest power of two like MTH.
    tree = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        tree.append_entry(leaf)
    assert tree.security and tree.algorithm == "sha256"
    return tree


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=150), st.data())
def test_it_agrees_with_pymerkle_on_roots_and_inclusion_proofs(leaves, data):
    ours = MerkleTree.from_leaves(leaves)
    theirs = pymerkle_tree(leaves)
    assert ours.root == theirs.get_root()

    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    assert ours.root_at(size) == theirs.get_root(size)
    their_proof = theirs.prove_inclusion(index + 1, size)
    # pymerkle's path starts with the leaf hash itself; the RFC's audit path does not.
    assert their_proof.path[0] == ours.leaf_hash(index)
    assert ours.inclusion_proof(index, size) == their_proof.path[1:]
    assert verify_inclusion(
        ours.leaf_hash(index), index, size, ours.inclusion_proof(index, size), theirs.get_root(size)
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=120), st.data())
def test_its_consistency_proofs_verify_against_pymerkle_roots(leaves, data):
    ours = MerkleTree.from_leaves(leaves)
    theirs = pymerkle_tree(leaves)
    second = data.draw(st.integers(1, len(leaves)), label="second")
    first = data.draw(st.integers(1, second), label="first")
    proof = ours.consistency_proof(first, second)
    assert verify_consistency(first, second, theirs.get_root(first), theirs.get_root(second), proof)
    if first < second:
        assert not verify_consistency(
            first, second, theirs.get_root(first), theirs.get_root(second - 1), proof
        ) or theirs.get_root(second - 1) == theirs.get_root(second)


def test_it_builds_from_leaf_hashes_the_same_tree():
    hashes = [leaf_hash(d) for d in DATA]
    assert MerkleTree.from_leaf_hashes(hashes).root == DATA_TREE.root
    with pytest.raises(ValueError):
        MerkleTree.from_leaf_hashes([b"short"])


def test_two_processes_build_the_same_tree_as_one(monkeypatch):
    # Small split units, so that every case (cut, odd ends, a right part that tops out
    # early) shows up on small trees checked against pymerkle; the real sizes are larger.
    from clearing import merkle

    forks = []
    real_fork = os.fork

    def counting_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(merkle, "TWO_PROCESSES", True)
    monkeypatch.setattr(merkle, "SPLIT_LEVEL", 2)
    monkeypatch.setattr(merkle, "PARALLEL_MIN_LEAVES", 8)
    monkeypatch.setattr(merkle, "_can_fork", lambda: True)
    monkeypatch.setattr(os, "fork", counting_fork)
    leaves = [f"leaf {i}".encode() * (i % 5) for i in range(70)]
    for n in (8, 9, 11, 13, 16, 17, 31, 33, 47, 64, 70):
        one = MerkleTree._build(merkle._hash_leaves(leaves[:n]))
        two = MerkleTree.from_leaves(leaves[:n])
        assert two.root == one.root == pymerkle_tree(leaves[:n]).get_root()
        assert [two.inclusion_proof(i) for i in range(n)] == [
            one.inclusion_proof(i) for i in range(n)
        ]
        from_hashes = MerkleTree.from_leaf_hashes([leaf_hash(d) for d in leaves[:n]])
        assert from_hashes.root == one.root and from_hashes.levels == one.levels
    assert len(forks) == 22  # every tree above was built in two processes


def test_it_refuses_proofs_outside_the_tree():
    with pytest.raises(ProofError):
        CT_TREE.inclusion_proof(8)
    with pytest.raises(ProofError):
        CT_TREE.inclusion_proof(3, 3)
    with pytest.raises(ProofError):
        CT_TREE.inclusion_proof(0, 9)
    with pytest.raises(ProofError):
        CT_TREE.consistency_proof(0, 5)
    with pytest.raises(ProofError):
        CT_TREE.consistency_proof(6, 5)
    with pytest.raises(ProofError):
        CT_TREE.root_at(9)


# --- Bent proofs fail (the certificate-transparency verifier checks) ---------------------

WRONG = hashlib.sha256(b"").digest()


def inclusion_variants(index: int, size: int, path: list[bytes], root: bytes, leaf: bytes):
    """Every tampering the CT verifier test tries; all must fail."""
    yield index - 1, size, path, root, leaf
    yield index + 1, size, path, root, leaf
    yield index ^ 2, size, path, root, leaf
    yield index, size * 2, path, root, leaf
    yield index, size // 2, path, root, leaf
    yield index, size, path, root, leaf_hash(b"WrongLeaf")
    yield index, size, path, WRONG, leaf
    for j in range(len(path)):
        yield index, size, [*path[:j], WRONG, *path[j + 1 :]], root, leaf
    yield index, size, [*path, b""], root, leaf
    yield index, size, [*path, root], root, leaf
    if path:
        yield index, size, path[:-1], root, leaf
    yield index, size, [b"", *path], root, leaf
    yield index, size, [root, *path], root, leaf


def test_it_rejects_every_bent_inclusion_proof():
    for size in range(1, 40):
        root = DATA_TREE.root_at(size)
        for index in range(size):
            path = DATA_TREE.inclusion_proof(index, size)
            leaf = leaf_hash(DATA[index])
            assert verify_inclusion(leaf, index, size, path, root)
            for i, s, p, r, lf in inclusion_variants(index, size, path, root, leaf):
                assert not verify_inclusion(lf, i, s, p, r), (index, size, i, s)


def test_it_rejects_malformed_inclusion_arguments():
    assert not verify_inclusion(WRONG, 0, 0, [], WRONG)
    assert not verify_inclusion(WRONG, 1, 1, [], WRONG)
    assert not verify_inclusion(WRONG, -1, 1, [], WRONG)
    assert verify_inclusion(leaf_hash(b"x"), 0, 1, [], leaf_hash(b"x"))


def test_it_rejects_every_bent_consistency_proof():
    for second in range(1, 40):
        root2 = DATA_TREE.root_at(second)
        for first in range(1, second):
            root1 = DATA_TREE.root_at(first)
            proof = DATA_TREE.consistency_proof(first, second)
            assert verify_consistency(first, second, root1, root2, proof)
            bent = [
                (first - 1, second, root1, root2, proof),
                (first + 1, second, root1, root2, proof),
                (first ^ 2, second, root1, root2, proof),
                (first, second * 2, root1, root2, proof),
                (first, second // 2, root1, root2, proof),
                (first, second, root1, b"WrongRoot", proof),
                (first, second, b"WrongRoot", root2, proof),
                (first, second, root2, root1, proof),
                (first, second, root1, root2, []),
                (first, second, root1, root2, [*proof, b""]),
                (first, second, root1, root2, [*proof, proof[-1]]),
                (first, second, root1, root2, proof[:-1]),
                (first, second, root1, root2, [b"", *proof]),
                (first, second, root1, root2, [proof[0], *proof]),
            ]
            bent += [
                (first, second, root1, root2, [*proof[:j], WRONG, *proof[j + 1 :]])
                for j in range(len(proof))
            ]
            for f, s, r1, r2, p in bent:
                assert not verify_consistency(f, s, r1, r2, p), (first, second, f, s)


def test_it_handles_the_trivial_consistency_cases_like_the_rfc():
    assert verify_consistency(0, 0, b"", b"", [])
    assert verify_consistency(0, 1, b"", b"", [])
    assert verify_consistency(1, 1, b"", b"", [])
    assert not verify_consistency(1, 0, b"", b"", [])
    assert not verify_consistency(2, 1, b"", b"", [])
    assert not verify_consistency(1, 2, b"", b"", [])
    assert not verify_consistency(0, 0, WRONG, b"", [])
    assert not verify_consistency(1, 1, WRONG, b"", [])
    assert not verify_consistency(0, 0, WRONG, WRONG, [WRONG])
    assert not verify_consistency(0, 1, WRONG, WRONG, [WRONG])
    assert not verify_consistency(1, 1, WRONG, WRONG, [WRONG])


def test_its_node_hash_is_domain_separated_from_leaves():
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(left + right) != node_hash(left, right)
