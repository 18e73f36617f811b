#include "core/index/index_store.hpp"

#include <algorithm>
#include <fstream>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_error.hpp"

namespace xops::index {

namespace {

constexpr uint64_t kMaxManifestBytes = 256ull << 20;
constexpr size_t kMaxChunkLine = 4u << 20;
constexpr int kFormat = 1;

std::string scalar_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& display) {
  if (!j.contains(key))
    throw runtime_error(fmt::format("{}: missing '{}'", display, key),
                        "rebuild the index: xops index build");
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: '{}': {}", display, key, json_error(e)));
  }
}

Manifest parse_manifest(const nlohmann::json& j, const std::string& display) {
  if (!j.is_object()) throw runtime_error(fmt::format("{}: not a JSON object", display));
  if (j.value("format", 0) != kFormat)
    throw runtime_error(fmt::format("{}: index format {} (this xops reads {})", display,
                                    j.value("format", nlohmann::json()).dump(), kFormat),
                        "rebuild the index with this xops: xops index build");
  Manifest m;
  auto e = field<nlohmann::json>(j, "embedding", display);
  m.embedding = field<std::string>(e, "ref", display);
  m.embedding_sha256 = field<std::string>(e, "sha256", display);
  m.embedding_describe = field<std::string>(e, "describe", display);
  m.dims = field<int>(e, "dims", display);
  auto c = field<nlohmann::json>(j, "chunking", display);
  m.chunk_unit = field<std::string>(c, "unit", display);
  m.chunk.tokens = field<int>(c, "size", display);
  m.chunk.overlap = field<int>(c, "overlap", display);
  auto a = field<nlohmann::json>(j, "ann", display);
  m.ann.m = field<int>(a, "m", display);
  m.ann.ef_construction = field<int>(a, "ef_construction", display);
  m.ann.ef_search = field<int>(a, "ef_search", display);
  m.ann.exact_below = field<size_t>(a, "exact_below", display);
  m.ann.target_recall = a.value("target_recall", 0.95);
  m.ann.force_exact = a.value("exact", false);
  m.ann.recall = a.contains("recall") && a["recall"].is_number() ? a["recall"].get<double>() : -1;
  m.next_id = field<uint64_t>(j, "next_id", display);
  for (const auto& s : field<nlohmann::json>(j, "sources", display))
    m.sources.push_back({field<std::string>(s, "path", display),
                         field<std::string>(s, "sha256", display),
                         field<size_t>(s, "chunks", display)});
  m.content_sha256 = field<std::string>(j, "content_sha256", display);
  m.created_by = j.value("created_by", std::string());
  return m;
}

}  // namespace

nlohmann::json manifest_json(const Manifest& m, size_t count) {
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : m.sources)
    sources.push_back({{"path", s.path}, {"sha256", s.sha256}, {"chunks", s.chunks}});
  return {{"format", kFormat},
          {"embedding",
           {{"ref", m.embedding},
            {"sha256", m.embedding_sha256},
            {"describe", m.embedding_describe},
            {"dims", m.dims}}},
          {"chunking",
           {{"unit", m.chunk_unit}, {"size", m.chunk.tokens}, {"overlap", m.chunk.overlap}}},
          {"ann",
           {{"library", "hnswlib"},
            {"metric", "cosine"},
            {"m", m.ann.m},
            {"ef_construction", m.ann.ef_construction},
            {"ef_search", m.ann.ef_search},
            {"exact_below", m.ann.exact_below},
            {"target_recall", m.ann.target_recall},
            {"exact", m.ann.force_exact},
            {"recall", m.ann.recall < 0 ? nlohmann::json(nullptr) : nlohmann::json(m.ann.recall)}}},
          {"chunks", count},
          {"next_id", m.next_id},
          {"sources", sources},
          {"content_sha256", m.content_sha256},
          {"created_by", m.created_by}};
}

Index::Index(Manifest m)
    : manifest(std::move(m)), vectors(std::max(manifest.dims, 1), manifest.ann) {}

bool Index::exists(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(dir / "index.json", ec);
}

Index Index::open(const std::filesystem::path& dir) {
  auto mpath = dir / "index.json";
  if (!exists(dir))
    throw precondition_error(fmt::format("no index at {}", dir.string()),
                             "build one: xops index build NAME --from PATH");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_limited(mpath, kMaxManifestBytes, "an index manifest"));
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid JSON: {}", mpath.string(), json_error(e)));
  }
  Index ix(parse_manifest(j, mpath.string()));
  ix.vectors = VectorIndex::load(dir, ix.manifest.ann);
  if (ix.vectors.dims() != ix.manifest.dims)
    throw runtime_error(fmt::format("{}: vectors of {} dimensions, the manifest says {}",
                                    dir.string(), ix.vectors.dims(), ix.manifest.dims));
  auto cpath = dir / "chunks.jsonl";
  std::ifstream in(cpath, std::ios::binary);
  if (!in)
    throw runtime_error(fmt::format("{}: cannot open", cpath.string()),
                        "rebuild the index: xops index build");
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    if (line.size() > kMaxChunkLine)
      throw runtime_error(fmt::format("{}:{}: a chunk of {} bytes (at most {})", cpath.string(),
                                      lineno, line.size(), kMaxChunkLine));
    auto where = fmt::format("{}:{}", cpath.string(), lineno);
    nlohmann::json c;
    try {
      c = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw runtime_error(fmt::format("{}: invalid JSON: {}", where, json_error(e)));
    }
    Chunk ch;
    ch.id = field<uint64_t>(c, "id", where);
    ch.source = field<std::string>(c, "source", where);
    ch.start = field<uint64_t>(c, "start", where);
    ch.end = field<uint64_t>(c, "end", where);
    ch.text = field<std::string>(c, "text", where);
    if (c.contains("meta")) ch.meta = c["meta"];
    if (!ch.meta.is_object()) throw runtime_error(fmt::format("{}: meta must be an object", where));
    if (!ix.chunks.empty() && ch.id <= ix.chunks.back().id)
      throw runtime_error(fmt::format("{}: chunk ids must increase", where));
    ix.chunks.push_back(std::move(ch));
  }
  if (ix.chunks.size() != ix.vectors.size())
    throw runtime_error(fmt::format("{}: {} chunks but {} vectors", dir.string(), ix.chunks.size(),
                                    ix.vectors.size()),
                        "rebuild the index: xops index build");
  return ix;
}

const Chunk* Index::chunk(uint64_t id) const {
  auto it = std::lower_bound(chunks.begin(), chunks.end(), id,
                             [](const Chunk& c, uint64_t v) { return c.id < v; });
  return it != chunks.end() && it->id == id ? &*it : nullptr;
}

std::string Index::content_hash() const {
  Sha256 h;
  auto put = [&](const std::string& s) {
    uint64_t n = s.size();
    h.update(&n, sizeof n);
    h.update(s.data(), s.size());
  };
  put(manifest.embedding_sha256.empty() ? manifest.embedding : manifest.embedding_sha256);
  put(fmt::format("{} {} {} {}", manifest.dims, manifest.chunk_unit, manifest.chunk.tokens,
                  manifest.chunk.overlap));
  for (const auto& c : chunks) {
    put(std::to_string(c.id));
    put(c.source);
    put(fmt::format("{} {}", c.start, c.end));
    put(c.text);
    put(c.meta.dump());
  }
  return h.hex();
}

size_t Index::remove_source(const std::string& path) {
  size_t n = 0;
  std::vector<Chunk> kept;
  kept.reserve(chunks.size());
  for (auto& c : chunks) {
    if (c.source == path) {
      vectors.remove(c.id);
      ++n;
    } else {
      kept.push_back(std::move(c));
    }
  }
  chunks.swap(kept);
  manifest.sources.erase(std::remove_if(manifest.sources.begin(), manifest.sources.end(),
                                        [&](const SourceEntry& s) { return s.path == path; }),
                         manifest.sources.end());
  return n;
}

void Index::save(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  manifest.content_sha256 = content_hash();
  manifest.ann = vectors.params();  // ef_search and the exact fallback as calibrated
  manifest.created_by = fmt::format("xops {} (hnswlib 0.6)", xops::version());
  std::sort(manifest.sources.begin(), manifest.sources.end(),
            [](const SourceEntry& a, const SourceEntry& b) { return a.path < b.path; });
  fs::create_directories(dir.parent_path().empty() ? fs::path(".") : dir.parent_path());
  auto staging = temp_path_beside(dir);
  ScopedCleanup cleanup(staging);
  fs::create_directories(staging);
  {
    AtomicFileWriter w(staging / "chunks.jsonl");
    for (const auto& c : chunks) {
      auto line = nlohmann::json{{"id", c.id},   {"source", c.source}, {"start", c.start},
                                 {"end", c.end}, {"text", c.text},     {"meta", c.meta}}
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                  "\n";
      w.write(line.data(), line.size());
    }
    w.commit();
  }
  vectors.save(staging);
  atomic_write_file(staging / "index.json", manifest_json(manifest, chunks.size()).dump(2) + "\n");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    auto old = temp_path_beside(dir);
    fs::rename(dir, old);
    fs::rename(staging, dir);
    fs::remove_all(old, ec);
  } else {
    fs::rename(staging, dir);
  }
  cleanup.release();
  fsync_dir(dir.parent_path().empty() ? fs::path(".") : dir.parent_path());
}

bool matches(const Chunk& c, const std::vector<Where>& where) {
  for (const auto& w : where) {
    if (w.key == "source") {
      if (c.source != w.value) return false;
      continue;
    }
    auto it = c.meta.find(w.key);
    if (it == c.meta.end() || scalar_text(*it) != w.value) return false;
  }
  return true;
}

std::vector<Where> parse_where(const std::vector<std::string>& args) {
  std::vector<Where> out;
  for (const auto& a : args) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error(fmt::format("--where '{}' is not KEY=VALUE", a),
                        "e.g. --where source=docs/faq.md --where lang=en");
    out.push_back({a.substr(0, eq), a.substr(eq + 1)});
  }
  return out;
}

}  // namespace xops::index
