#include "core/model/model_ref.hpp"

#include "core/error.hpp"
#include "core/registry/promote.hpp"
#include "core/workspace.hpp"

namespace xops {

std::filesystem::path resolve_model_ref(const std::string& ref, const Workspace* ws) {
  std::error_code ec;
  if (std::filesystem::is_directory(ref, ec)) return std::filesystem::absolute(ref).lexically_normal();
  if (ws) {
    if (std::filesystem::is_directory(ws->root() / ref, ec)) return ws->root() / ref;
    for (const auto& a : ws->config().artifacts)
      if (a.name == ref) {
        auto p = ws->root() / a.path;
        if (!std::filesystem::is_directory(p, ec))
          throw precondition_error(fmt::format("artifact '{}' points at {}, which is not there", ref, a.path),
                                   "run `xops track checkout` (and `xops track pull`) to materialise it");
        return p;
      }
  }
  // A registry ref (name@v1.2.0, name@latest, name#prod): exactly that version's content.
  if (ws)
    if (auto r = registry::resolve_content(*ws, ref)) return r->path;
  if (ref.find('@') != std::string::npos || ref.find('#') != std::string::npos)
    throw precondition_error(fmt::format("'{}' looks like a registry reference, but {}", ref,
                                         ws ? "it is not one (NAME@vX.Y.Z, NAME@latest, NAME#STAGE)" : "there is no project here"),
                             "pass the model's directory, an artifact name from xops.yaml, or a registry reference");
  // A missing model is a precondition (3) in every command, like a missing object.
  throw precondition_error(fmt::format("no model '{}': not a directory{}", ref, ws ? " nor an artifact in xops.yaml" : ""),
                    "give a Hugging Face model directory (config.json, model.safetensors, tokenizer)");
}

}  // namespace xops
