"""The exact graph in UMAP and scanpy: the same embedding / graphs as their own exact neighbours.

Both packages compile their kernels with numba on first use (about half a minute here)."""
import numpy as np
import pytest

from hubness_fast.neighbors import KNeighborsTransformer, umap_knn


@pytest.fixture
def x(rng):
    return rng.standard_normal((400, 10)).astype(np.float32)


@pytest.mark.filterwarnings("ignore:precomputed_knn.2. .knn_search_index. is not an NNDescent object")
def test_umap_embedding_equals_its_own_exact_graph(x):
    umap = pytest.importorskip("umap")
    from sklearn.metrics import pairwise_distances
    from umap.umap_ import nearest_neighbors

    x = x.astype(np.float64)
    kw = dict(n_neighbors=10, random_state=0, n_jobs=1, n_epochs=50, init="random")
    # UMAP's own exact graph: its nearest_neighbors on the full distance matrix
    own = nearest_neighbors(pairwise_distances(x), 10, "precomputed", {}, False, None)[:2]
    ids, dists = umap_knn(x, 10)
    np.testing.assert_array_equal(ids, own[0])
    np.testing.assert_allclose(dists, own[1], rtol=1e-6)
    ours = umap.UMAP(precomputed_knn=(ids, dists), **kw).fit(x)
    theirs = umap.UMAP(precomputed_knn=own, **kw).fit(x)
    np.testing.assert_allclose(ours.embedding_, theirs.embedding_, rtol=1e-5, atol=1e-5)
    # and the fuzzy graph equals the one of UMAP's default small-data path (a dense distance matrix)
    default = umap.UMAP(**kw).fit(x)
    assert abs(ours.graph_.tocsr() - default.graph_.tocsr()).max() < 1e-5


def test_scanpy_neighbors_with_the_transformer(x):
    sc = pytest.importorskip("scanpy")
    anndata = pytest.importorskip("anndata")
    from sklearn.neighbors import KNeighborsTransformer as SkTransformer

    x = x.astype(np.float64)  # scikit-learn's float32 distances are not exact; its float64 ones are
    ours, theirs = anndata.AnnData(x), anndata.AnnData(x)
    sc.pp.neighbors(ours, transformer=KNeighborsTransformer(n_neighbors=10), use_rep="X")
    sc.pp.neighbors(theirs, transformer=SkTransformer(n_neighbors=10, algorithm="brute"), use_rep="X")
    for key in ("distances", "connectivities"):
        a, b = ours.obsp[key], theirs.obsp[key]
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=1e-12)
