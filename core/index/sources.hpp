#pragma once
// The documents an index is built from: text files (.txt .md .markdown .rst) as one document
// each, and JSONL files with a "text" field per line (its other scalar fields become the
// chunk's metadata, with "line"). Directories are walked in name order, hidden entries and
// xops pointer files skipped.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace xops::index {

struct SourceFile {
  std::filesystem::path path;
  std::string name;  // as recorded: relative to the project root (or as given outside one)
};

struct Document {
  std::string text;
  nlohmann::json meta = nlohmann::json::object();
};

inline constexpr uint64_t kMaxSourceBytes = 1ull << 30;

// Throws a usage error for a path that is not there or a file of another type.
std::vector<SourceFile> list_sources(const std::vector<std::string>& from,
                                     const std::filesystem::path& root);
// The documents of one file and its sha256 (of the bytes read).
std::vector<Document> read_documents(const SourceFile& f, std::string* sha256);

}  // namespace xops::index
