#pragma once
// Where a model's CPU weights live. Decode streams every weight once per token: with 4 KiB
// pages that is a TLB miss every 4 KiB (122,000 per GPT-2-small token); on 2 MiB pages the
// same matrix-vector products read 6-13% faster here (24.8-26.9 -> 28.1-28.6 GB/s). Transparent
// huge pages in "madvise" mode (Debian's default) need the request, and only 2 MiB-aligned
// spans qualify, which per-tensor allocations mostly are not. So the weights are carved out of
// one 2 MiB-aligned anonymous region advised before the first write; pages no tensor touches
// (a span later replaced by a view of the mapped file) are never made resident.
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>

namespace xops {

class WeightArena {
 public:
  // An arena of `bytes` (round up with reserve() first); throws when the map fails.
  static std::shared_ptr<WeightArena> create(size_t bytes);
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // How many bytes a tensor of this size takes in an arena (64-byte aligned slices).
  static size_t reserve(at::IntArrayRef sizes, at::ScalarType dt);
  // The next slice as a tensor that keeps the arena alive; an at::empty when it is full.
  at::Tensor take(at::IntArrayRef sizes, at::ScalarType dt);

 private:
  WeightArena(void* map, size_t map_size, char* base, size_t size);
  void* map_;
  size_t map_size_;
  char* base_;
  size_t size_, used_ = 0;
  std::weak_ptr<WeightArena> self_;
};

}  // namespace xops
