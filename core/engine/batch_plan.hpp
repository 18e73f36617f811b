#pragma once
// Which training windows make up each batch, for one process or many. Sample i of the run
// (counted over all steps and micro-batches) is a seeded permutation of the windows per epoch;
// a global micro-batch is `batch_size` consecutive samples, and with several processes each
// rank takes a contiguous, disjoint slice of it. So the global batch is the same whatever the
// world size, and over an epoch every window is read exactly once across all ranks.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xops {

class BatchPlan {
 public:
  BatchPlan(size_t windows, uint64_t seed, int batch_size, int grad_accum);

  // The window at run-wide sample index i.
  size_t window_at(uint64_t i);
  // The global micro-batch `micro` (0-based) of optimizer step `step` (1-based).
  std::vector<size_t> global_batch(int step, int micro);
  // This rank's slice [begin, end) of a global micro-batch of `batch` samples: sizes differ by
  // at most one, lower ranks take the larger ones.
  static std::pair<size_t, size_t> shard(size_t batch, int rank, int world);

 private:
  size_t n_;
  uint64_t seed_, epoch_ = ~0ULL;
  int batch_size_, grad_accum_;
  std::vector<size_t> perm_;
};

}  // namespace xops
