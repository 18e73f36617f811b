#pragma once
// Pointer files (PATH.xops, committed to git) and directory manifests (stored objects).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xops {

inline constexpr const char* kPointerSuffix = ".xops";

struct Pointer {
  std::string sha256;  // the file's content, or the directory's manifest object
  uint64_t size = 0;   // bytes of content (a directory: the sum of its files)
  bool is_dir = false;
  uint64_t files = 0;  // directories only
  std::string name;    // the tracked file's name, beside the pointer
  std::string desc;
};

std::string render_pointer(const Pointer& p);
// Errors name `display` and the line.
Pointer parse_pointer(const std::string& text, const std::string& display);

struct ManifestEntry {
  std::string path;  // relative to the directory, '/'-separated
  std::string sha256;
  uint64_t size = 0;
  bool executable = false;
};

// Canonical JSON (sorted entries, fixed key order): equal trees give equal manifest ids.
std::string render_manifest(std::vector<ManifestEntry> entries);
// The object id the manifest of these entries gets.
std::string sha256_of_manifest(const std::vector<ManifestEntry>& entries);
std::vector<ManifestEntry> parse_manifest(const std::string& text, const std::string& id);
// The content hash of a directory (its manifest id, as `track` would store it; symlinks
// skipped) or of a file (its sha256): what names a model or adapter in eval results and logs.
std::string content_hash_of(const std::filesystem::path& path);

}  // namespace xops
