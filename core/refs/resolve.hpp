#pragma once
// The one resolver: what a REF on a command line names. A REF is a directory or file, an
// artifact name from xops.yaml (its checked-out path), or a registry ref (name@v1.2.0,
// name@latest, name#prod: exactly that version's content, materialised once per hash under
// .xops/refs/). A model ref that names a PEFT LoRA adapter brings its base model.
#include <filesystem>
#include <optional>
#include <string>

namespace xops {
class Workspace;
}

namespace xops::refs {

struct Target {
  enum class Kind { Path, Artifact, Registry } kind = Kind::Path;
  std::filesystem::path path;  // the content on disk
  std::string version;         // NAME@vX.Y.Z for a registry ref; otherwise the ref as given
  std::string content_hash;    // a registry ref's content sha256 ("" otherwise)
  struct Adapter {
    std::filesystem::path path, base;  // the adapter and the base model it was trained on
  };
  std::optional<Adapter> adapter;  // set when path holds a PEFT adapter (model refs)
  // The directory to load weights from: the base for an adapter, else path.
  const std::filesystem::path& model_dir() const { return adapter ? adapter->base : path; }
};

// A model: a directory, an artifact or a registry ref; ws may be null outside a project.
// Throws a precondition error (with a hint) when it names nothing here.
Target resolve_model(const std::string& ref, const Workspace* ws);

// A file: the path when it is a regular file, else a registry ref's content (prompts, system
// prompts); nullopt when it is neither (the caller says what it wanted).
std::optional<Target> resolve_file(const std::string& ref, const Workspace* ws);

}  // namespace xops::refs
