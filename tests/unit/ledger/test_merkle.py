"""RFC 6962 §2.1 Merkle tree hashing: the frontier kept in the ledger head equals MTH."""

from hashlib import sha256

from hypothesis import given, settings
from hypothesis import strategies as st

from kura.ledger.merkle import EMPTY_ROOT, Frontier, leaf_hash, node_hash, root_of

# The Certificate Transparency reference inputs and tree heads for sizes 0..8 (the test
# data of RFC 6962's reference implementation, also used by RFC 9162 implementations).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_r24_rfc6962_reference_tree_heads():
    leaves = [leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES]
    assert EMPTY_ROOT.hex() == CT_ROOTS[0] == sha256(b"").hexdigest()
    for n in range(len(leaves) + 1):
        assert root_of(leaves[:n]).hex() == CT_ROOTS[n], n
        f = Frontier()
        for leaf in leaves[:n]:
            f.append(leaf)
        assert f.root().hex() == CT_ROOTS[n], n


def test_leaf_and_node_hashes_are_domain_separated():
    a, b = sha256(b"a").digest(), sha256(b"b").digest()
    assert leaf_hash(a + b) != node_hash(a, b)
    assert node_hash(a, b) == sha256(b"\x01" + a + b).digest()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=300))
def test_r24_frontier_root_equals_mth_for_any_sequence(entries):
    leaves = [leaf_hash(e) for e in entries]
    f = Frontier()
    for i, leaf in enumerate(leaves, 1):
        f.append(leaf)
        if i % 17 == 0 or i == len(leaves):
            assert f.root() == root_of(leaves[:i])
    assert f.root() == root_of(leaves)
    # the head keeps the frontier as text: it survives a round trip, and its shape is the
    # binary decomposition of the size
    again = Frontier.loads(f.size, f.dumps())
    assert again.root() == f.root() and again.nodes == f.nodes
    assert Frontier.from_roots(f.size, [h for _, h in f.nodes]).nodes == f.nodes
