#!/usr/bin/python3
"""The peers of bench/index.sh on the same files: hnswlib from Python (Debian's python3-hnswlib,
the library xops links) and numpy brute force (a matrix product over all vectors).

  index_peer.py random N DIMS NQ SEED OUT_PREFIX     writes OUT-data.f32 / OUT-queries.f32
  index_peer.py export VECTORS_BIN NQ OUT_PREFIX     an xops index's live vectors: the first NQ
                                                     as queries, the rest as data
  index_peer.py run DATA QUERIES DIMS K M EFC THREADS EF...   one JSON line, as xops_bench_index
"""
import json, struct, sys, time
import numpy as np


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return (x / n).astype(np.float32)


def main():
    mode = sys.argv[1]
    if mode == "random":
        n, d, nq, seed, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        rng = np.random.default_rng(seed)
        rng.standard_normal((n, d), dtype=np.float32).tofile(out + "-data.f32")
        rng.standard_normal((nq, d), dtype=np.float32).tofile(out + "-queries.f32")
        return
    if mode == "export":
        raw = open(sys.argv[2], "rb").read()
        assert raw[:8] == b"XOPSVEC1"
        d, _, n = struct.unpack("<IIQ", raw[8:24])
        off = 24 + 8 * n
        alive = np.frombuffer(raw, np.uint8, n, off)
        vecs = np.frombuffer(raw, np.float32, n * d, off + n).reshape(n, d)[alive == 1]
        nq = int(sys.argv[3])
        vecs[:nq].tofile(sys.argv[4] + "-queries.f32")
        vecs[nq:].tofile(sys.argv[4] + "-data.f32")
        print(d)
        return
    import hnswlib
    data_f, query_f, d, k, m, efc, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), \
        int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
    efs = [int(x) for x in sys.argv[9:]]
    data = unit(np.fromfile(data_f, np.float32).reshape(-1, d))
    queries = unit(np.fromfile(query_f, np.float32).reshape(-1, d))
    t0 = time.perf_counter()
    ix = hnswlib.Index(space="ip", dim=d)
    ix.init_index(max_elements=len(data), M=m, ef_construction=efc, random_seed=100)
    ix.set_num_threads(threads)
    ix.add_items(data, np.arange(len(data)))
    build = time.perf_counter() - t0
    # numpy brute force: one matrix product per block of queries, then the top k.
    t0 = time.perf_counter()
    truth = []
    for s in range(0, len(queries), 64):
        sims = queries[s:s + 64] @ data.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        truth += [set(t.tolist()) for t in top]
    brute = (time.perf_counter() - t0) / len(queries)
    ix.set_num_threads(1)  # one query at a time, as xops answers one
    runs = []
    for ef in efs:
        ix.set_ef(ef)
        found = 0
        t0 = time.perf_counter()
        for i, q in enumerate(queries):
            labels, _ = ix.knn_query(q, k=k)
            found += len(truth[i] & set(labels[0].tolist()))
        runs.append({"ef_search": ef, "query_s": (time.perf_counter() - t0) / len(queries),
                     "recall": found / (len(queries) * k)})
    print(json.dumps({"n": len(data), "queries": len(queries), "dims": d, "build_s": build,
                      "brute_query_s": brute, "runs": runs}))


main()
