#include "core/engine/batch_plan.hpp"

#include <algorithm>
#include <random>

namespace xops {

BatchPlan::BatchPlan(size_t windows, uint64_t seed, int batch_size, int grad_accum)
    : n_(windows), seed_(seed), batch_size_(batch_size), grad_accum_(grad_accum) {}

size_t BatchPlan::window_at(uint64_t i) {
  uint64_t epoch = i / n_;
  if (epoch != epoch_ || perm_.empty()) {
    perm_.resize(n_);
    for (size_t k = 0; k < n_; ++k) perm_[k] = k;
    std::mt19937_64 rng(seed_ * 1000003ULL + epoch);
    std::shuffle(perm_.begin(), perm_.end(), rng);
    epoch_ = epoch;
  }
  return perm_[i % n_];
}

std::vector<size_t> BatchPlan::global_batch(int step, int micro) {
  const uint64_t per_step = static_cast<uint64_t>(batch_size_) * grad_accum_;
  const uint64_t base = static_cast<uint64_t>(step - 1) * per_step +
                        static_cast<uint64_t>(micro) * static_cast<uint64_t>(batch_size_);
  std::vector<size_t> idx;
  idx.reserve(static_cast<size_t>(batch_size_));
  for (int b = 0; b < batch_size_; ++b) idx.push_back(window_at(base + static_cast<uint64_t>(b)));
  return idx;
}

std::pair<size_t, size_t> BatchPlan::shard(size_t batch, int rank, int world) {
  const size_t w = static_cast<size_t>(world), r = static_cast<size_t>(rank);
  const size_t base = batch / w, extra = batch % w;
  const size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

}  // namespace xops
