#pragma once
// Params and vars values as DVC reads them: YAML or JSON files, dotted keys (`a.b`, `a[0]`),
// and the text a value becomes inside a string (Python's str(), which DVC uses).
#include <filesystem>
#include <string>

#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

// A params/vars file (.yaml, .yml, .json); TOML and Python files are refused by name.
// `shown` names the file in messages. The document must be a mapping.
J load_values(const std::filesystem::path& file, const std::string& shown);
// A JSON (when `shown` ends in .json) or YAML document, any shape; an empty YAML one is {}.
J parse_document(const std::string& text, const std::string& shown);
// As load_values, from text already read (a file at a git revision).
J parse_values(const std::string& text, const std::string& shown);
// The value at a dotted key path (`train.lr`, `layers[1].size`); null when absent.
const J* lookup(const J& root, const std::string& key);
// A value as Python's str() writes it (DVC's to_str): 0.2, 1e-05, 100.0, true/false.
std::string to_str(const J& v);
// Every leaf under `v` by its dotted key (lists are leaves, as `dvc params diff` shows them).
void flatten(const J& v, const std::string& prefix, J& out);

}  // namespace xops::pipeline
