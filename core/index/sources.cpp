#include "core/index/sources.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_error.hpp"

namespace xops::index {

namespace {

bool text_ext(const std::filesystem::path& p) {
  auto e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".txt" || e == ".md" || e == ".markdown" || e == ".rst" || e == ".jsonl";
}

std::string display_name(const std::filesystem::path& p, const std::filesystem::path& root) {
  auto abs = std::filesystem::absolute(p).lexically_normal();
  auto rel = root.empty() ? std::string() : relative_inside(abs, root);
  return rel.empty() ? p.lexically_normal().string() : rel;
}

}  // namespace

std::vector<SourceFile> list_sources(const std::vector<std::string>& from,
                                     const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<SourceFile> out;
  for (const auto& f : from) {
    std::error_code ec;
    fs::path p(f);
    if (fs::is_regular_file(p, ec)) {
      if (!text_ext(p))
        throw usage_error(fmt::format("{}: not a text source", f),
                          "index .txt, .md, .markdown, .rst or .jsonl files");
      out.push_back({p, display_name(p, root)});
      continue;
    }
    if (!fs::is_directory(p, ec))
      throw usage_error(fmt::format("{}: no such file or directory", f));
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(p, fs::directory_options::none, ec), end;
    if (ec) throw runtime_error(fmt::format("{}: {}", f, ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec) throw runtime_error(fmt::format("{}: {}", f, ec.message()));
      auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && !it->is_symlink(ec) && text_ext(it->path()))
        found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    for (const auto& q : found) out.push_back({q, display_name(q, root)});
  }
  std::sort(out.begin(), out.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.name < b.name; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const SourceFile& a, const SourceFile& b) { return a.name == b.name; }),
            out.end());
  return out;
}

std::vector<Document> read_documents(const SourceFile& f, std::string* sha256) {
  auto bytes = read_file_limited(f.path, kMaxSourceBytes, "an index source");
  if (sha256) *sha256 = sha256_hex(bytes);
  std::vector<Document> docs;
  if (f.path.extension() != ".jsonl") {
    docs.push_back({std::move(bytes), nlohmann::json::object()});
    return docs;
  }
  size_t pos = 0, line = 0;
  while (pos < bytes.size()) {
    auto nl = bytes.find('\n', pos);
    auto text =
        std::string_view(bytes).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? bytes.size() : nl + 1;
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto where = fmt::format("{}:{}", f.name, line);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw runtime_error(fmt::format("{}: invalid JSON: {}", where, json_error(e)));
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw runtime_error(
          fmt::format("{}: each line needs a string \"text\"", where),
          "a JSONL source is one document per line: {\"text\": ..., other fields as metadata}");
    Document d;
    d.text = j["text"].get<std::string>();
    d.meta["line"] = line;
    for (auto& [k, v] : j.items())
      if (k != "text" && (v.is_string() || v.is_number() || v.is_boolean())) d.meta[k] = v;
    docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace xops::index
