#include "core/torch/weight_arena.hpp"

#include <ATen/ATen.h>
#include <sys/mman.h>

#include "core/error.hpp"

namespace xops {

namespace {
constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kAlign = 64;
}  // namespace

std::shared_ptr<WeightArena> WeightArena::create(size_t bytes) {
  const size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
  const size_t map_size = size + kHuge;  // room to align the start
  void* map = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) throw runtime_error("could not map memory for the model's weights");
  auto base =
      reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(map) + kHuge - 1) & ~(kHuge - 1));
  ::madvise(base, size, MADV_HUGEPAGE);  // best effort: without THP it is ordinary memory
  std::shared_ptr<WeightArena> a(new WeightArena(map, map_size, base, size));
  a->self_ = a;
  return a;
}

WeightArena::WeightArena(void* map, size_t map_size, char* base, size_t size)
    : map_(map), map_size_(map_size), base_(base), size_(size) {}

WeightArena::~WeightArena() {
  ::munmap(map_, map_size_);
}

size_t WeightArena::reserve(at::IntArrayRef sizes, at::ScalarType dt) {
  size_t n = at::elementSize(dt);
  for (auto s : sizes) n *= static_cast<size_t>(s);
  return (n + kAlign - 1) / kAlign * kAlign;
}

at::Tensor WeightArena::take(at::IntArrayRef sizes, at::ScalarType dt) {
  const size_t n = reserve(sizes, dt);
  if (used_ + n > size_) return at::empty(sizes, at::TensorOptions().dtype(dt));
  void* p = base_ + used_;
  used_ += n;
  auto keep = self_.lock();
  return at::from_blob(
      p, sizes, [keep](void*) {}, at::TensorOptions().dtype(dt));
}

}  // namespace xops
