"""RFC 6962 Merkle tree hashing, kept as a compact frontier so appends cost O(log n).

leaf_hash = SHA-256(0x00 || entry)       (RFC 6962 §2.1)
node_hash = SHA-256(0x01 || left || right)
The frontier holds the roots of the perfect subtrees that make up the tree, largest first;
the root of the whole tree folds them from the right, which equals RFC 6962's MTH.
"""

from __future__ import annotations

from hashlib import sha256

__all__ = ["leaf_hash", "node_hash", "Frontier", "root_of", "EMPTY_ROOT"]

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


class Frontier:
    """The right edge of a Merkle tree: (height, hash) of each perfect subtree, largest first."""

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: list[tuple[int, bytes]] | None = None):
        self.size = size
        self.nodes = nodes or []

    def append(self, leaf: bytes) -> None:
        nodes = self.nodes
        height, h = 0, leaf
        while nodes and nodes[-1][0] == height:
            _, left = nodes.pop()
            h = node_hash(left, h)
            height += 1
        nodes.append((height, h))
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1][1]
        for _, h in reversed(self.nodes[:-1]):
            acc = node_hash(h, acc)
        return acc

    @classmethod
    def from_roots(cls, size: int, roots: list[bytes]) -> Frontier:
        """The frontier of a tree of `size` leaves from its subtree roots, largest first
        (their heights are the set bits of `size`)."""
        heights = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if len(heights) != len(roots):
            raise ValueError(f"a tree of {size} leaves has {len(heights)} subtree roots, not {len(roots)}")
        return cls(size, list(zip(heights, roots)))

    def dumps(self) -> str:
        return ",".join(f"{height}:{h.hex()}" for height, h in self.nodes)

    @classmethod
    def loads(cls, size: int, text: str) -> Frontier:
        nodes = []
        for part in filter(None, text.split(",")):
            height, h = part.split(":")
            nodes.append((int(height), bytes.fromhex(h)))
        return cls(size, nodes)


def root_of(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 6962 §2.1; for tests and small trees."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))
