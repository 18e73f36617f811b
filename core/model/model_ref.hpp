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

}  // namespace xops
