#pragma once
// Data-parallel training over torch.distributed's c10d, as PyTorch's DDP does it: a TCPStore
// rendezvous (rank 0 hosts it at MASTER_ADDR:MASTER_PORT), a Gloo process group (NCCL where
// LibTorch has it and the run is on CUDA), and c10d's Reducer, which all-reduces gradients in
// buckets from autograd hooks while the backward pass is still running. The c10d headers stay
// in data_parallel.cpp.
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/engine/trainer.hpp"

namespace xops {

class DataParallel {
 public:
  // Joins the group (blocks until every rank has; world.timeout_s at most).
  static std::unique_ptr<DataParallel> connect(const WorldSpec& world, bool cuda);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const;
  int world_size() const;
  const std::vector<std::string>& hosts() const;  // every rank's host name, by rank

  // Rank 0's values into every rank's tensors, in place.
  void broadcast(std::vector<at::Tensor> tensors);
  // Rank 0's bytes to every rank (the argument is ignored elsewhere).
  std::string broadcast_bytes(const std::string& from_rank0);
  // Element-wise sum over ranks, in place.
  void all_reduce_sum(at::Tensor& t);

  // Gradient synchronisation for these parameters (leaves that require grad), bucketed in
  // reverse order as DDP does. Gradients come out averaged over ranks.
  void attach(const std::vector<at::Tensor>& params);
  // Before the backward pass whose gradients are to be all-reduced (the last micro-batch of a
  // step); without it, gradients accumulate locally as under DDP's no_sync().
  void prepare_for_backward();
  // Runs fn, turning a failed collective into an error that says which rank and what to do.
  template <class F>
  auto guarded(const char* what, F&& fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const std::exception& e) {
      rethrow(what, e);
    }
  }

 private:
  struct Impl;
  explicit DataParallel(std::unique_ptr<Impl> impl);
  [[noreturn]] void rethrow(const char* what, const std::exception& e) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xops
