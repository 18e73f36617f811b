#pragma once
// Weight projections over the packed rows of a decoder step: y = x W^T (+ b) with the
// load-time LoRA and each row group's own adapter added, through small_gemm where it applies
// (decode rows, fp32 prefill chunks) and LibTorch elsewhere.
#include <ATen/ATen.h>

#include <vector>

#include "core/torch/transformer.hpp"

namespace xops {

// small_gemm for a few rows on the CPU (fp32 accumulation, fp32 or bf16 weights); an
// undefined tensor when it does not apply (the caller uses LibTorch).
at::Tensor small_linear(const at::Tensor& w, const at::Tensor& b, const at::Tensor& x);
// x @ w^T in w's dtype, returned in x's (fp32 activations beside bf16 weights).
at::Tensor linear_as(const at::Tensor& x, const at::Tensor& w);

// One projection over packed rows, each row group with its own adapter (-1: none). Batch-1
// rows use a matrix-vector product, which is what decode at batch 1 is bound by.
struct RowGroup {
  int adapter = -1;
  at::Tensor rows;  // int64 row indices; undefined when the group is every row
};
at::Tensor project(const Proj& p, const at::Tensor& x, const std::vector<RowGroup>& groups);
// Adds p's load-time LoRA and each row group's adapter to y = x W^T.
void add_adapters(const Proj& p, const at::Tensor& x, at::Tensor& y,
                  const std::vector<RowGroup>& groups);
// The outputs of the projections whose weights `rows` stacks (Layer::qkv_rows, gate_up_rows)
// from one product, adapters added to each; empty when it does not apply (undefined rows,
// weights replaced since, or a product small_gemm does not take): project each then.
std::vector<at::Tensor> project_stacked(const at::Tensor& rows, const std::vector<const Proj*>& ps,
                                        const at::Tensor& x, const std::vector<RowGroup>& groups);

}  // namespace xops
