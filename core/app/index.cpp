#include "core/app/index.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "core/app/embedders.hpp"
#include "core/error.hpp"
#include "core/index/sources.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/resolve.hpp"
#include "core/track/track.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

namespace xops::app {

namespace {

using clk = std::chrono::steady_clock;
double secs_since(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

void tell(const std::function<void(const std::string&)>& f, const std::string& s) {
  if (f) f(s);
}

// A chunk waiting for its vector.
struct Pending {
  index::Chunk chunk;
};

// Stores the index (a pointer, like track add) and records the change as a run.
void store_and_track(const Workspace& ws, const IndexBuildRequest& r,
                     const std::vector<index::SourceFile>& sources,
                     const std::map<std::string, std::string>& source_hashes, IndexBuildOutcome& o,
                     const index::Manifest& m) {
  auto tracker = Tracker::for_workspace(ws);
  RunStart rs;
  rs.name = o.dir.filename().string();
  rs.kind = "index";
  rs.command = fmt::format("xops index {} {}", r.add ? "add" : "build", r.name);
  for (const auto& f : r.from) rs.command += " --from " + f;
  rs.params = {{"embedding", m.embedding},
               {"embedding.sha256", m.embedding_sha256},
               {"chunk.unit", m.chunk_unit},
               {"chunk.size", std::to_string(m.chunk.tokens)},
               {"chunk.overlap", std::to_string(m.chunk.overlap)},
               {"ann.m", std::to_string(m.ann.m)},
               {"ann.ef_construction", std::to_string(m.ann.ef_construction)},
               {"ann.ef_search", std::to_string(m.ann.ef_search)},
               {"ann.exact_below", std::to_string(m.ann.exact_below)},
               {"ann.target_recall", std::to_string(m.ann.target_recall)}};
  RunSession session(tracker, rs, &ws);
  std::map<std::string, std::string> inputs;
  for (const auto& s : sources) {
    auto it = source_hashes.find(s.name);
    if (it != source_hashes.end()) inputs[s.name] = it->second;
  }
  if (!inputs.empty()) tracker.record_inputs(session.id(), inputs);
  AddOptions add;
  add.paths = {o.dir.string()};
  auto added = track_add(ws, add, {});
  o.stored_sha256 = added.at(0).sha256;
  tracker.log_artifact(session.id(), "index", o.stored_sha256, static_cast<int64_t>(added[0].size),
                       added[0].path);
  tracker.log_metrics(session.id(), {{"chunks", static_cast<double>(o.chunks), 0, 0},
                                     {"chunks_added", static_cast<double>(o.chunks_added), 0, 0},
                                     {"embed_seconds", o.embed_s, 0, 0},
                                     {"index_seconds", o.index_s, 0, 0}});
  session.finish(RunStatus::Finished, 0);
  o.run_id = session.id();
}

// Where an index to read is: indexes/NAME in a project, else a path, an artifact or a registry
// ref (its exact content). The second: the ref as resolved (NAME@vX for a registry ref).
std::pair<std::filesystem::path, std::string> locate_index(const std::string& ref,
                                                           const Workspace* ws) {
  if (ws && ref.find('/') == std::string::npos &&
      index::Index::exists(ws->root() / "indexes" / ref))
    return {ws->root() / "indexes" / ref, ref};
  auto t = refs::resolve_model(ref, ws);
  return {t.path, t.version};
}

}  // namespace

std::filesystem::path index_dir_for_write(const std::string& name, const Workspace* ws) {
  if (name.empty()) throw usage_error("no index name", "xops index build NAME --from PATH");
  if (ws) {
    for (const auto& a : ws->config().artifacts)
      if (a.name == name) {
        // Never write an index over a dataset or a model that shares the name.
        if (a.type != "index")
          throw usage_error(
              fmt::format("'{}' is a {} artifact ({}), not an index", name, a.type, a.path),
              fmt::format("pick another name, or declare it in xops.yaml as {{path: indexes/{}, "
                          "type: index}}",
                          name));
        return ws->root() / a.path;
      }
    if (name.find('/') == std::string::npos && name.find('@') == std::string::npos &&
        name.find('#') == std::string::npos)
      return ws->root() / "indexes" / name;
  }
  if (name.find('@') != std::string::npos || name.find('#') != std::string::npos)
    throw usage_error(
        fmt::format("'{}' is a registry reference: a registered version is never changed", name),
        "build or change the working copy (the artifact's name), then register a new version");
  return std::filesystem::absolute(name).lexically_normal();
}

IndexBuildOutcome build_index(const IndexBuildRequest& r, const Workspace* ws,
                              const IndexObserver& obs) {
  auto t0 = clk::now();
  IndexBuildOutcome o;
  o.dir = index_dir_for_write(r.name, ws);
  std::error_code ec;
  if (std::filesystem::exists(o.dir, ec) && !index::Index::exists(o.dir))
    throw precondition_error(fmt::format("{} exists and is not an index", o.dir.string()),
                             "an index is written only where there is none or an index already");
  if (r.from.empty())
    throw usage_error("nothing to index", "--from PATH (files or directories; repeatable)");
  std::optional<index::Index> ix;
  std::string embedding = r.embedding;
  if (r.add) {
    ix.emplace(index::Index::open(o.dir));
    if (!embedding.empty() && embedding != ix->manifest.embedding)
      throw usage_error(
          fmt::format("the index was embedded by '{}', not '{}'", ix->manifest.embedding,
                      embedding),
          "an index holds one embedding model's vectors: build a new index to change it");
    embedding = ix->manifest.embedding;
    if ((r.chunk >= 0 && r.chunk != ix->manifest.chunk.tokens) ||
        (r.overlap >= 0 && r.overlap != ix->manifest.chunk.overlap))
      throw usage_error("--chunk and --overlap are the index's own when adding",
                        "rebuild with xops index build to change them");
  }
  auto embedder = open_embedder(embedding, ws, r.threads);
  if (r.add && !ix->manifest.embedding_sha256.empty() &&
      embedder->content_sha256() != ix->manifest.embedding_sha256)
    throw precondition_error(
        fmt::format("'{}' has changed since the index was built ({} now, {} then)", embedding,
                    embedder->content_sha256().substr(0, 12),
                    ix->manifest.embedding_sha256.substr(0, 12)),
        "vectors of two models do not mix: rebuild with xops index build");
  index::Manifest m = ix ? ix->manifest : index::Manifest{};
  if (!ix) {
    m.embedding = embedding;
    m.embedding_sha256 = embedder->content_sha256();
    m.embedding_describe = embedder->describe();
    m.chunk_unit = embedder->unit();
    // Default: 200 tokens, or what the encoder reads when that is less.
    int fits = embedder->max_tokens() > 0 ? std::max(1, embedder->max_tokens() - 2) : 200;
    m.chunk.tokens = r.chunk >= 0 ? r.chunk : std::min(200, fits);
    m.chunk.overlap =
        r.overlap >= 0 ? r.overlap : (m.chunk.tokens == 0 ? 0 : std::min(40, m.chunk.tokens / 5));
    m.ann = r.ann;
  }
  // [CLS] and [SEP] take two of the encoder's positions.
  if (embedder->max_tokens() > 0 && m.chunk.tokens > embedder->max_tokens() - 2)
    throw usage_error(fmt::format("chunks of {} tokens are longer than {} reads ({} tokens)",
                                  m.chunk.tokens, embedding, embedder->max_tokens()),
                      fmt::format("--chunk {} or fewer", std::max(1, embedder->max_tokens() - 2)));

  // Chunk everything first (cheap), so progress has a total; then embed batch by batch.
  auto tc = clk::now();
  auto sources = index::list_sources(r.from, ws ? ws->root() : std::filesystem::path());
  std::map<std::string, std::string> hashes;
  std::vector<index::Chunk> pending;
  std::vector<index::SourceEntry> new_sources;
  uint64_t next_id = m.next_id;
  for (const auto& sf : sources) {
    interrupt::check();
    std::string sha;
    auto docs = index::read_documents(sf, &sha);
    hashes[sf.name] = sha;
    if (ix) {
      const index::SourceEntry* had = nullptr;
      for (const auto& s : ix->manifest.sources)
        if (s.path == sf.name) had = &s;
      if (had && had->sha256 == sha) {
        ++o.sources_unchanged;
        continue;
      }
      if (had) o.chunks_removed += ix->remove_source(sf.name);
    }
    size_t before = pending.size();
    for (auto& d : docs) {
      for (const auto& span : index::chunk_text(
               d.text, m.chunk, [&](std::string_view w) { return embedder->count(w); })) {
        index::Chunk c;
        c.id = next_id++;
        c.source = sf.name;
        c.start = span.start;
        c.end = span.end;
        c.text = d.text.substr(span.start, span.end - span.start);
        c.meta = d.meta;
        pending.push_back(std::move(c));
      }
    }
    new_sources.push_back({sf.name, sha, pending.size() - before});
    ++o.sources_indexed;
  }
  o.chunk_s = secs_since(tc);
  tell(obs.on_info,
       fmt::format("{} chunks from {} source{} ({} unchanged), embedded by {}", pending.size(),
                   o.sources_indexed, o.sources_indexed == 1 ? "" : "s", o.sources_unchanged,
                   m.embedding_describe));

  size_t batch = std::max<size_t>(1, r.batch);
  for (size_t start = 0; start < pending.size(); start += batch) {
    interrupt::check();
    size_t n = std::min(batch, pending.size() - start);
    std::vector<std::string> texts;
    std::vector<uint64_t> ids;
    for (size_t i = 0; i < n; ++i)
      texts.push_back(pending[start + i].text), ids.push_back(pending[start + i].id);
    auto te = clk::now();
    auto vecs = embedder->embed(texts);
    o.embed_s += secs_since(te);
    if (!ix) {
      if (vecs.empty() || vecs[0].empty())
        throw runtime_error(fmt::format("'{}' returned an empty embedding", embedding));
      m.dims = static_cast<int>(vecs[0].size());
      ix.emplace(m);
    }
    auto ti = clk::now();
    ix->vectors.add(ids, vecs, r.threads);
    o.index_s += secs_since(ti);
    if (obs.on_progress) obs.on_progress(start + n, pending.size());
  }
  if (!ix) {  // nothing to embed: an empty index still records what it would hold
    m.dims = embedder->dims();
    if (m.dims <= 0)
      throw usage_error("no text to index and the provider's dimensions are unknown",
                        "give sources with some text");
    ix.emplace(m);
  }
  for (auto& c : pending) ix->chunks.push_back(std::move(c));
  std::sort(ix->chunks.begin(), ix->chunks.end(),
            [](const index::Chunk& a, const index::Chunk& b) { return a.id < b.id; });
  for (auto& s : new_sources) ix->manifest.sources.push_back(std::move(s));
  ix->manifest.next_id = next_id;
  o.chunks_added = pending.size();
  o.chunks = ix->chunks.size();
  auto tcal = clk::now();
  ix->vectors.calibrate();
  o.index_s += secs_since(tcal);
  o.approximate = ix->vectors.approximate() && !ix->vectors.params().force_exact;
  o.ef_search = ix->vectors.params().ef_search;
  o.recall = ix->vectors.params().recall;
  o.exact_fallback = ix->vectors.approximate() && ix->vectors.params().force_exact;
  ix->save(o.dir);
  o.content_sha256 = ix->manifest.content_sha256;
  if (ws) store_and_track(*ws, r, sources, hashes, o, ix->manifest);
  o.total_s = secs_since(t0);
  return o;
}

IndexBuildOutcome remove_from_index(const IndexRemoveRequest& r, const Workspace* ws) {
  auto t0 = clk::now();
  IndexBuildOutcome o;
  o.dir = index_dir_for_write(r.name, ws);
  auto ix = index::Index::open(o.dir);
  if (r.sources.empty() && r.ids.empty())
    throw usage_error("nothing to remove", "--source PATH or --id N (repeatable)");
  for (const auto& s : r.sources) {
    bool known = false;
    for (const auto& e : ix.manifest.sources) known |= e.path == s;
    if (!known)
      throw usage_error(fmt::format("'{}' is not a source of this index", s),
                        "xops index info NAME lists them");
    o.chunks_removed += ix.remove_source(s);
  }
  for (auto id : r.ids) {
    if (!ix.chunk(id)) throw usage_error(fmt::format("no chunk {} in this index", id));
    ix.vectors.remove(id);
    auto it = std::find_if(ix.chunks.begin(), ix.chunks.end(),
                           [&](const index::Chunk& c) { return c.id == id; });
    for (auto& s : ix.manifest.sources)
      if (s.path == it->source && s.chunks > 0) --s.chunks;
    ix.chunks.erase(it);
    ++o.chunks_removed;
  }
  o.chunks = ix.chunks.size();
  o.approximate = ix.vectors.approximate();
  ix.save(o.dir);
  o.content_sha256 = ix.manifest.content_sha256;
  if (ws) {
    IndexBuildRequest br;
    br.name = r.name;
    br.add = true;
    store_and_track(*ws, br, {}, {}, o, ix.manifest);
  }
  o.total_s = secs_since(t0);
  return o;
}

std::unique_ptr<Retriever> Retriever::open(const std::string& ref, const Workspace* ws,
                                           const std::string& embedding) {
  auto [dir, version] = locate_index(ref, ws);
  auto ix = index::Index::open(dir);
  std::unique_ptr<Retriever> r(new Retriever(std::move(ix)));
  r->dir_ = dir;
  r->version_ = version;
  const auto& m = r->ix_.manifest;
  auto spec = embedding.empty() ? m.embedding : embedding;
  r->embedder_ = open_embedder(spec, ws);
  if (!m.embedding_sha256.empty() && r->embedder_->content_sha256() != m.embedding_sha256)
    throw precondition_error(
        fmt::format("the index {} was embedded by '{}' (content {}), but '{}' here has content {}",
                    ref, m.embedding, m.embedding_sha256.substr(0, 12), spec,
                    r->embedder_->content_sha256().substr(0, 12)),
        "query with the same model (--embedding REF of that content, e.g. its registered version) "
        "or rebuild the index");
  return r;
}

std::vector<Retrieved> Retriever::search(const std::string& text, size_t k,
                                         const std::vector<index::Where>& where, bool exact) {
  auto q = embedder_->embed({text});
  std::function<bool(uint64_t)> allow;
  if (!where.empty())
    allow = [&](uint64_t id) {
      const auto* c = ix_.chunk(id);
      return c && index::matches(*c, where);
    };
  std::vector<Retrieved> out;
  for (const auto& h : ix_.vectors.search(q.at(0), k, allow, exact)) {
    const auto* c = ix_.chunk(h.id);
    if (!c) continue;
    out.push_back({h.id, h.score, c->source, c->text, c->start, c->end, c->meta});
  }
  return out;
}

IndexQueryOutcome query_index(const IndexQueryRequest& r, const Workspace* ws) {
  if (r.k == 0 || r.k > 10000)
    throw usage_error(fmt::format("-k {} is out of range", r.k), "-k 1..10000");
  auto where = index::parse_where(r.where);
  auto ret = Retriever::open(r.name, ws, r.embedding);
  IndexQueryOutcome o;
  o.index = ret->dir().string();
  o.version = ret->version();
  o.content_sha256 = ret->index().manifest.content_sha256;
  o.approximate =
      ret->index().vectors.approximate() && !ret->index().vectors.params().force_exact && !r.exact;
  auto t0 = clk::now();
  o.hits = ret->search(r.text, r.k, where, r.exact);
  o.search_ms = secs_since(t0) * 1000;
  return o;
}

nlohmann::json index_info(const std::string& ref, const Workspace* ws) {
  auto [dir, version] = locate_index(ref, ws);
  auto ix = index::Index::open(dir);
  auto j = index::manifest_json(ix.manifest, ix.chunks.size());
  std::error_code ec;
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) bytes += e.file_size(ec);
  j["index"] = dir.string();
  j["version"] = version;
  j["search"] = ix.vectors.approximate() && !ix.manifest.ann.force_exact ? "hnsw" : "exact";
  j["bytes"] = bytes;
  return j;
}

}  // namespace xops::app
