#pragma once
// Resolves a model REF to a directory: a path, or an artifact name from xops.yaml.
// Registry refs (name@v1.2.0, name@latest, name#prod) give that version's content, materialised
// once per content hash under .xops/refs/.
#include <filesystem>
#include <string>

namespace xops {

class Workspace;

// ws may be null outside a project.
std::filesystem::path resolve_model_ref(const std::string& ref, const Workspace* ws);

// A model to load: a base and, when the ref named a PEFT LoRA adapter (a directory with
// adapter_config.json), that adapter, its base found from base_model_name_or_path (a model
// ref: a path inside the project, an artifact or a registry ref).
struct ModelAndAdapter {
  std::filesystem::path model, adapter;  // adapter empty: a plain model
};
ModelAndAdapter resolve_model_or_adapter(const std::string& ref, const Workspace* ws);
// Whether `dir` holds a PEFT adapter rather than a model.
bool is_adapter_dir(const std::filesystem::path& dir);
// The base `adapter_dir` was trained on, resolved as a model ref (throws Precondition with a hint).
std::filesystem::path adapter_base(const std::filesystem::path& adapter_dir, const Workspace* ws);
// Rewrites adapter_config.json's base_model_name_or_path to `base_ref` (the ref the fine-tune
// config named, portable across checkouts, rather than this machine's absolute path).
void record_adapter_base(const std::filesystem::path& adapter_dir, const std::string& base_ref);

}  // namespace xops
