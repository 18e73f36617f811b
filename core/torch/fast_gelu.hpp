#pragma once
// GELU with the tanh approximation (GPT-2's "gelu_new"), forward and backward in one AVX-512
// pass each. LibTorch 1.13 computes it through Sleef's 8-wide AVX2 tanh, which took 13% of a
// bf16 training step of a small GPT (forward and backward both call it). Here
// 0.5 x (1 + tanh(u)) is written as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), so
// each element costs one exp (a degree-7 polynomial scaled by a power of two: relative error
// about 1e-7, as Sleef's u10 tanh). fp32 and bf16 contiguous CPU tensors take this path;
// anything else (CUDA, other dtypes, a CPU without AVX-512) falls back to at::gelu. The
// backward is first-order only (no double backward).
namespace at {
class Tensor;
}

namespace xops {

at::Tensor gelu_tanh(const at::Tensor& x);

}  // namespace xops
