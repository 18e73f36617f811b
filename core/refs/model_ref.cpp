#include "core/refs/model_ref.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/content.hpp"
#include "core/refs/resolve.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

// Where a ref's content is, without looking inside it.
refs::Target locate(const std::string& ref, const Workspace* ws) {
  using Kind = refs::Target::Kind;
  std::error_code ec;
  // A model is a Hugging Face directory or one GGUF file.
  auto is_model = [&](const std::filesystem::path& p) {
    return std::filesystem::is_directory(p, ec) || is_gguf_file(p);
  };
  if (is_model(ref))
    return {Kind::Path, std::filesystem::absolute(ref).lexically_normal(), ref, "", {}};
  if (ws) {
    if (is_model(ws->root() / ref)) return {Kind::Path, ws->root() / ref, ref, "", {}};
    for (const auto& a : ws->config().artifacts)
      if (a.name == ref) {
        auto p = ws->root() / a.path;
        if (!is_model(p))
          throw precondition_error(
              fmt::format("artifact '{}' points at {}, which is not there", ref, a.path),
              "run `xops track checkout` (and `xops track pull`) to materialise it");
        return {Kind::Artifact, p, ref, "", {}};
      }
  }
  // A registry ref (name@v1.2.0, name@latest, name#prod): exactly that version's content.
  if (ws)
    if (auto r = registry::resolve_content(*ws, ref))
      return {Kind::Registry,
              r->path,
              r->version.artifact + "@" + r->version.version,
              r->pointer.sha256,
              {}};
  if (ref.find('@') != std::string::npos || ref.find('#') != std::string::npos)
    throw precondition_error(
        fmt::format("'{}' looks like a registry reference, but {}", ref,
                    ws ? "it is not one (NAME@vX.Y.Z, NAME@latest, NAME#STAGE)"
                       : "there is no project here"),
        "pass the model's directory, an artifact name from xops.yaml, or a registry reference");
  // A missing model is a precondition (3) in every command, like a missing object.
  throw precondition_error(fmt::format("no model '{}': not a directory or GGUF file{}", ref,
                                       ws ? " nor an artifact in xops.yaml" : ""),
                           "give a Hugging Face model directory (config.json, model.safetensors, "
                           "tokenizer) or a .gguf file");
}

}  // namespace

std::filesystem::path resolve_model_ref(const std::string& ref, const Workspace* ws) {
  return locate(ref, ws).path;
}

bool is_adapter_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "adapter_config.json", ec) &&
         !std::filesystem::exists(dir / "config.json", ec);
}

namespace {
nlohmann::ordered_json read_adapter_config(const std::filesystem::path& dir) {
  auto text = read_file_limited(dir / "adapter_config.json", 1 << 20, "an adapter_config.json");
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (!j.is_object())
    throw runtime_error(
        fmt::format("{}: not a JSON object", (dir / "adapter_config.json").string()));
  return j;
}
}  // namespace

std::filesystem::path adapter_base(const std::filesystem::path& adapter_dir, const Workspace* ws) {
  auto j = read_adapter_config(adapter_dir);
  auto base = j.value("base_model_name_or_path", nlohmann::ordered_json()).is_string()
                  ? j["base_model_name_or_path"].get<std::string>()
                  : std::string();
  if (base.empty())
    throw precondition_error(
        fmt::format("{} names no base model (base_model_name_or_path)", adapter_dir.string()),
        "give the base as the model and this directory with --adapter");
  try {
    return resolve_model_ref(base, ws);
  } catch (const Error& e) {
    throw precondition_error(
        fmt::format("the adapter {} was trained on '{}', which is not here: {}",
                    adapter_dir.string(), base, e.what()),
        "give the base as the model and this adapter with --adapter");
  }
}

ModelAndAdapter resolve_model_or_adapter(const std::string& ref, const Workspace* ws) {
  auto t = refs::resolve_model(ref, ws);
  if (!t.adapter) return {t.path, {}};
  return {t.adapter->base, t.adapter->path};
}

namespace refs {

Target resolve_model(const std::string& ref, const Workspace* ws) {
  auto t = locate(ref, ws);
  if (is_adapter_dir(t.path)) t.adapter = Target::Adapter{t.path, adapter_base(t.path, ws)};
  return t;
}

std::optional<Target> resolve_file(const std::string& ref, const Workspace* ws) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(ref, ec))
    return Target{Target::Kind::Path, ref, ref, "", {}};
  if (!ws) return std::nullopt;
  auto r = registry::resolve_content(*ws, ref);
  if (!r || !std::filesystem::is_regular_file(r->path, ec)) return std::nullopt;
  return Target{Target::Kind::Registry,
                r->path,
                r->version.artifact + "@" + r->version.version,
                r->pointer.sha256,
                {}};
}

}  // namespace refs

void record_adapter_base(const std::filesystem::path& adapter_dir, const std::string& base_ref) {
  auto j = read_adapter_config(adapter_dir);
  j["base_model_name_or_path"] = base_ref;
  atomic_write_file(adapter_dir / "adapter_config.json", j.dump(2) + "\n");
}

}  // namespace xops
