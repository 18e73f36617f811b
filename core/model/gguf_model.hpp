#pragma once
// GPT-2 and Llama in GGUF, as llama.cpp's convert_hf_to_gguf.py writes them, mapped to and
// from the Hugging Face names and layouts the rest of xops uses:
// - tensor names (token_embd <-> model.embed_tokens / transformer.wte, blk.N.attn_q <-> ...);
// - Llama's q/k rows: llama.cpp rotates interleaved pairs, HF rotates halves, so the
//   converter permutes the rows of q_proj and k_proj; reading undoes it (a row permutation,
//   exact for every type, Q8_0 included);
// - GPT-2's Conv1D weights are [in, out] in HF and [out, in] in GGUF: a GGUF checkpoint says
//   so (linear_layout) and the engine takes them as they are.
// Metadata keys follow llama.cpp (general.*, ARCH.*, tokenizer.ggml.*).
#include <filesystem>
#include <memory>
#include <string>

#include "core/model/gguf.hpp"
#include "core/model/model_config.hpp"
#include "core/model/safetensors.hpp"
#include "core/model/tokenizer.hpp"

namespace xops {

ModelConfig gguf_model_config(const GgufFile& f);
Tokenizer gguf_tokenizer(const GgufFile& f);
// tokenizer.chat_template, or "" when the file has none (or is not GGUF).
std::string gguf_chat_template(const std::filesystem::path& path);

// The weights under their HF names (views into the mapping where the layout matches,
// copies where rows are permuted). Q8_0 tensors appear as DType::Q8_0 views. Every tensor in
// the file must be one the architecture uses: an unknown one is refused, never dropped.
Checkpoint gguf_checkpoint(std::shared_ptr<const GgufFile> f, const ModelConfig& c);

struct GgufExportOptions {
  GgmlType type = GgmlType::F32;  // for matrices; norms, biases and positions stay F32
  std::string name;               // general.name
  std::string chat_template;      // tokenizer.chat_template ("" = none)
};
// Writes a GGUF that llama.cpp loads: `hf` holds HF-named F32/F16/BF16 tensors with every
// projection [out, in] (hf.linear_layout(), as the engine holds them for inference).
void write_gguf_model(const std::filesystem::path& path, const ModelConfig& c, const Tokenizer& tok,
                      const Checkpoint& hf, const GgufExportOptions& opts);

// ggml's file type (general.file_type) for a tensor type: 0 F32, 1 F16, 7 Q8_0, 32 BF16.
uint32_t gguf_file_type(GgmlType t);

}  // namespace xops
