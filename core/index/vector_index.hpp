#pragma once
// Cosine nearest neighbours over unit vectors: exact search (a scan) for small sets, an HNSW
// graph (hnswlib, Debian's libhnswlib-dev) above a size threshold. hnswlib rather than FAISS:
// header-only (no second BLAS/OpenMP beside LibTorch's), incremental add and delete, and its
// HNSW is FAISS's IndexHNSWFlat algorithm. The graph's labels are rows of the vector table,
// which is kept in full: exact search, filtered search and rebuilds read it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace xops::index {

struct AnnParams {
  int m = 16;                  // graph degree (hnswlib's M)
  int ef_construction = 200;   // candidates while inserting
  int ef_search = 32;          // candidates while searching (raised to k when k is larger)
  size_t exact_below = 10000;  // fewer live vectors than this: exact search only, no graph
  // calibrate(): the smallest ef_search (from ef_search up, doubling) whose recall@10 against
  // exact search on sampled stored vectors reaches this; none does: search exactly. 0: off.
  double target_recall = 0.95;
  bool force_exact = false;  // set by calibrate() when no ef_search reached the target
  double recall = -1;        // what calibrate() measured at the chosen ef_search (-1: not run)
};

struct Hit {
  uint64_t id = 0;
  float score = 0;  // cosine similarity
};

class VectorIndex {
 public:
  VectorIndex(int dims, AnnParams params);
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;
  ~VectorIndex();

  // vectors.bin (+ hnsw.bin) as save() wrote them; every size and graph link is checked
  // against the file before it is used (a pulled index is untrusted input).
  static VectorIndex load(const std::filesystem::path& dir, AnnParams params);
  void save(const std::filesystem::path& dir) const;

  // Adds (normalised copies of) vectors under ids; an id already present is replaced.
  void add(const std::vector<uint64_t>& ids, const std::vector<std::vector<float>>& vectors,
           int threads = 0);
  bool remove(uint64_t id);  // false when absent
  // The k best by cosine; allow (optional) filters ids. exact forces a scan.
  std::vector<Hit> search(const std::vector<float>& query, size_t k,
                          const std::function<bool(uint64_t)>& allow = {},
                          bool exact = false) const;

  int dims() const;
  size_t size() const;       // live vectors
  bool approximate() const;  // a graph is built
  const AnnParams& params() const;
  void set_ef_search(int ef);  // recall against speed, at query time
  // Builds (or drops) the graph to match exact_below; add() and load() call it.
  void reindex(int threads = 0);
  // Chooses ef_search for params().target_recall (see AnnParams) from `sample` stored vectors
  // as queries (each one's own entry left out); a no-op without a graph or a target.
  void calibrate(size_t sample = 200, size_t k = 10);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Unit length (zero vectors stay zero).
void normalize(std::vector<float>& v);

}  // namespace xops::index
