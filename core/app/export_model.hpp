#pragma once
// `xops export`: a model (HF directory, GGUF file, artifact or registry ref; an adapter
// brings its base and is merged) written as GGUF for llama.cpp/Ollama, with an Ollama
// Modelfile beside it, or as a Hugging Face directory (GGUF -> HF).
#include <filesystem>
#include <string>

#include "core/model/model_config.hpp"

namespace xops {

class Workspace;

struct ExportRequest {
  std::string model;  // what `generate` accepts
  std::string
      adapter;  // a PEFT adapter to merge (optional; a model ref naming an adapter also works)
  std::string format = "gguf";  // gguf | hf
  std::string type = "f32";     // gguf tensor type: f32 | f16 | bf16 | q8_0
  std::filesystem::path output;
  bool modelfile = true;      // write an Ollama Modelfile beside a GGUF
  bool adapter_only = false;  // refused: a GGUF LoRA file is not written yet
  bool force = false;         // replace an existing HF output directory
  int threads = 0;
};

struct ExportResult {
  std::filesystem::path output, modelfile;  // modelfile empty when none was written
  std::string format, type, arch;
  std::string adapter;  // the merged adapter's directory, if any
  int64_t parameters = 0;
  uint64_t bytes = 0;  // of the output (all files for hf)
  double seconds = 0;
};

ExportResult export_model(const ExportRequest& r, const Workspace* ws);

// The Ollama Modelfile for an exported GGUF: FROM, the chat template as a Go template when it
// is xops's built-in one, stop tokens.
std::string render_modelfile(const std::string& gguf_name, bool builtin_template,
                             const std::string& eos_token, const std::string& custom_template);

}  // namespace xops
