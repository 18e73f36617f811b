#pragma once
// BERT-family sentence encoders in LibTorch (internal to the engine library).
#include <filesystem>
#include <memory>

#include "core/engine/text_encoder.hpp"

namespace xops {

std::unique_ptr<TextEncoder> load_bert_encoder(const std::filesystem::path& dir,
                                               const LoadOptions& opts);

}  // namespace xops
