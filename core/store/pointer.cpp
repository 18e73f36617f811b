#include "core/store/pointer.hpp"
#include "core/util/json_error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/safe_path.hpp"
#include "core/util/yaml_util.hpp"

namespace xops {

static std::string yaml_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

std::string render_pointer(const Pointer& p) {
  std::string s =
      "# xops pointer: the content lives in the xops store; `xops track checkout` restores it.\n";
  s += "sha256: " + p.sha256 + "\n";
  s += "size: " + std::to_string(p.size) + "\n";
  s += std::string("type: ") + (p.is_dir ? "dir" : "file") + "\n";
  if (p.is_dir) s += "files: " + std::to_string(p.files) + "\n";
  s += "path: " + yaml_quote(p.name) + "\n";
  if (!p.desc.empty()) s += "desc: " + yaml_quote(p.desc) + "\n";
  return s;
}

Pointer parse_pointer(const std::string& text, const std::string& display) {
  yaml::Doc doc{display, nullptr};
  auto root = yaml::parse(text, display);
  if (!root.IsMap())
    throw runtime_error(fmt::format("{}: not an xops pointer file", display),
                        "restore it with `git checkout -- FILE` or re-run `xops track add`");
  Pointer p;
  auto sha = doc.require(root, "sha256", "the pointer");
  p.sha256 = doc.str(sha, "sha256");
  if (!is_sha256_hex(p.sha256)) doc.fail(sha, "sha256 must be 64 lowercase hex digits");
  auto size = doc.integer(doc.require(root, "size", "the pointer"), "size");
  if (size < 0) doc.fail(root["size"], "size must not be negative");
  p.size = static_cast<uint64_t>(size);
  if (auto t = root["type"]) {
    auto type = doc.str(t, "type");
    if (type != "file" && type != "dir") doc.fail(t, "type must be file or dir");
    p.is_dir = type == "dir";
  }
  if (auto f = root["files"]) {
    auto files = doc.integer(f, "files");
    if (files < 0) doc.fail(f, "files must not be negative");
    p.files = static_cast<uint64_t>(files);
  }
  if (auto n = root["path"]) p.name = doc.str(n, "path");
  if (auto d = root["desc"]) p.desc = doc.str(d, "desc");
  return p;
}

namespace {
void append_json_string(std::string& s, const std::string& v) {
  s += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        s += "\\\"";
        break;
      case '\\':
        s += "\\\\";
        break;
      case '\n':
        s += "\\n";
        break;
      case '\t':
        s += "\\t";
        break;
      case '\r':
        s += "\\r";
        break;
      case '\b':
        s += "\\b";
        break;
      case '\f':
        s += "\\f";
        break;
      default:
        if (c < 0x20)
          s += fmt::format("\\u{:04x}", c);
        else
          s += static_cast<char>(c);
    }
  }
  s += '"';
}
}  // namespace

std::string render_manifest(std::vector<ManifestEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  std::string s;
  s.reserve(entries.size() * 140 + 32);
  s += "{\"version\":1,\"files\":[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (i) s += ',';
    s += "{\"path\":";
    append_json_string(s, e.path);
    s += ",\"sha256\":\"";
    s += e.sha256;
    s += "\",\"size\":";
    s += std::to_string(e.size);
    s += e.executable ? ",\"exec\":true}" : ",\"exec\":false}";
  }
  s += "]}\n";
  return s;
}

std::string sha256_of_manifest(const std::vector<ManifestEntry>& entries) {
  return sha256_hex(render_manifest(entries));
}

std::string content_hash_of(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) return sha256_file(dir);
  std::vector<ManifestEntry> entries;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    auto st = e.status();
    entries.push_back(
        {e.path().lexically_relative(dir).generic_string(), sha256_file(e.path()),
         static_cast<uint64_t>(e.file_size()),
         (st.permissions() & std::filesystem::perms::owner_exec) != std::filesystem::perms::none});
  }
  return sha256_of_manifest(entries);
}

std::vector<ManifestEntry> parse_manifest(const std::string& text, const std::string& id) {
  std::vector<ManifestEntry> out;
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || !j.contains("files") || !j["files"].is_array())
      throw runtime_error(
          fmt::format("directory manifest {} is malformed: no files list", id.substr(0, 12)),
          "run `xops track verify`");
    for (const auto& e : j["files"]) {
      // Types checked before conversion: a size of 1e300 converted to an integer is UB.
      if (!e.is_object() || !e.contains("path") || !e["path"].is_string() ||
          !e.contains("sha256") || !e["sha256"].is_string() || !e.contains("size") ||
          !e["size"].is_number_unsigned() || (e.contains("exec") && !e["exec"].is_boolean()))
        throw runtime_error(
            fmt::format("directory manifest {} is malformed: entry {} needs path, sha256, size",
                        id.substr(0, 12), out.size()),
            "run `xops track verify`");
      out.push_back({e["path"].get<std::string>(), e["sha256"].get<std::string>(),
                     e["size"].get<uint64_t>(), e.value("exec", false)});
    }
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(
        fmt::format("directory manifest {} is malformed: {}", id.substr(0, 12), json_error(e)),
        "run `xops track verify`");
  }
  // The manifest came from someone else's push: every entry passes the untrusted-path rule.
  std::string origin = "directory manifest " + id.substr(0, 12);
  for (const auto& e : out) {
    require_safe_path(e.path, origin);
    if (!is_sha256_hex(e.sha256))
      throw runtime_error(fmt::format("{} has a malformed sha256 for '{}'", origin, e.path),
                          "run `xops track verify`");
  }
  return out;
}

}  // namespace xops
