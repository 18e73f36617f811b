#pragma once
// The LibTorch step-level decoder (internal to the engine library): a packed, ragged batch
// (every active slot's new tokens in one [N, D] matrix, so each projection is one product)
// with attention per slot against its own preallocated KV memory.
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "core/engine/decoder.hpp"
#include "core/torch/transformer.hpp"

namespace xops {

std::unique_ptr<Decoder> make_torch_decoder(const ModelConfig& c, const Weights& w, at::Device dev, at::ScalarType dt,
                                            const DecoderOptions& opts);

// One projection over packed rows, each row group with its own adapter (-1: none). Batch-1
// rows use a matrix-vector product, which is what decode at batch 1 is bound by.
struct RowGroup {
  int adapter = -1;
  at::Tensor rows;  // int64 row indices; undefined when the group is every row
};
at::Tensor project(const Proj& p, const at::Tensor& x, const std::vector<RowGroup>& groups);

}  // namespace xops
