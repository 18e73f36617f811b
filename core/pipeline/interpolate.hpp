#pragma once
// DVC's `${}` templating: a context built from params.yaml and `vars` (files and inline
// mappings), `${a.b}` / `${list[0]}` lookups, `\${` for a literal, a string that is one
// whole `${}` keeping the value's type, and the keys a stage reads from params files
// recorded (DVC tracks them as params of the stage).
#include <map>
#include <optional>
#include <string>

#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

class Context {
 public:
  // Merges `values`; `source` is the workspace-relative file they came from ("" for an inline
  // mapping or a foreach item). A key already set by another source is an error (as DVC's
  // MergeError), except mappings, which merge key by key.
  void merge(const J& values, const std::string& source, const std::string& where);
  // Sets (or replaces) a top-level name for one foreach member: item, key.
  void set_local(const std::string& name, const J& value);
  bool loaded(const std::string& source) const { return files_.count(source) != 0; }
  void mark_loaded(const std::string& source) { files_[source] = true; }

  // Keys read from params files while resolving: file -> {dotted key -> value}.
  using Used = std::map<std::string, std::map<std::string, J>>;

  // Resolves every string in `v` (recursively). `where` names the field for errors.
  J resolve(const J& v, const std::string& where, Used* used) const;
  // One string: a lone `${x}` keeps x's type; otherwise each value becomes text (a mapping or
  // list inside a longer string is an error).
  J resolve_string(const std::string& s, const std::string& where, Used* used) const;

 private:
  J data_ = J::object();
  std::map<std::string, J> file_values_;  // what each file contributed (a key is tracked
                                          // against the file that holds it)
  std::map<std::string, bool> files_;
};

bool has_interpolation(const std::string& s);

}  // namespace xops::pipeline
