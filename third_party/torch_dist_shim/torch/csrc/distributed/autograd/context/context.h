#pragma once
// Debian's libtorch-dev 1.13 installs c10d/reducer.hpp but not the distributed-autograd
// headers it includes. The Reducer's declaration needs two names from this one: the context
// pointer type (a shared_ptr member, the same size whatever it points to) and the gradient
// callback type (reducer.hpp static_asserts it equals its own). xops never creates or touches
// a distributed-autograd context; LibTorch's own code, built with the real header, does.
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
