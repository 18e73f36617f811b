#pragma once
// The LibTorch step-level decoder (internal to the engine library): a packed, ragged batch
// (every active slot's new tokens in one [N, D] matrix, so each projection is one product)
// with attention per slot against its own preallocated KV memory.
#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "core/engine/decoder.hpp"
#include "core/torch/row_projection.hpp"
#include "core/torch/transformer.hpp"

namespace xops {

std::unique_ptr<Decoder> make_torch_decoder(const ModelConfig& c, const Weights& w, at::Device dev, at::ScalarType dt,
                                            const DecoderOptions& opts);

}  // namespace xops
