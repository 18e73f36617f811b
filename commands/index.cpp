// `xops index`: build, add to, remove from, query and describe vector indexes (embedded
// chunks of text, searched by cosine similarity) that are versioned like models.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/index.hpp"
#include "core/error.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

const Workspace* optional_workspace(cli::Context& ctx) {
  return Workspace::find_root(std::filesystem::current_path()) ? &ctx.workspace() : nullptr;
}

json outcome_json(const app::IndexBuildOutcome& o) {
  return {
      {"index", o.dir.string()},
      {"chunks", o.chunks},
      {"chunks_added", o.chunks_added},
      {"chunks_removed", o.chunks_removed},
      {"sources_indexed", o.sources_indexed},
      {"sources_unchanged", o.sources_unchanged},
      {"search", o.approximate ? "hnsw" : "exact"},
      {"ef_search", o.ef_search},
      {"recall", o.recall < 0 ? json(nullptr) : json(o.recall)},
      {"exact_fallback", o.exact_fallback},
      {"content_sha256", o.content_sha256},
      {"stored_sha256", o.stored_sha256.empty() ? json(nullptr) : json(o.stored_sha256)},
      {"run", o.run_id.empty() ? json(nullptr) : json(o.run_id)},
      {"seconds",
       {{"chunk", o.chunk_s}, {"embed", o.embed_s}, {"index", o.index_s}, {"total", o.total_s}}}};
}

void render_outcome(cli::Context& ctx, const app::IndexBuildOutcome& o, const char* verb) {
  auto& out = ctx.out();
  if (out.json()) return out.print_json(outcome_json(o));
  out.info(fmt::format(
      "{} {}: {} chunks ({} added, {} removed; {} source{} indexed, {} unchanged), {} search", verb,
      o.dir.string(), o.chunks, o.chunks_added, o.chunks_removed, o.sources_indexed,
      o.sources_indexed == 1 ? "" : "s", o.sources_unchanged, o.approximate ? "HNSW" : "exact"));
  if (o.recall >= 0)
    out.info(o.exact_fallback
                 ? fmt::format("exact search: HNSW reached recall@10 {:.3f} at best (ef_search {}) "
                               "on sampled chunks, "
                               "under the target; this data defeats the graph",
                               o.recall, o.ef_search)
                 : fmt::format(
                       "HNSW ef_search {}: recall@10 {:.3f} against exact search on sampled chunks",
                       o.ef_search, o.recall));
  if (o.chunks_added)
    out.info(fmt::format("embedding {:.2f} s ({:.0f} chunks/s), indexing {:.2f} s, total {:.2f} s",
                         o.embed_s, o.embed_s > 0 ? o.chunks_added / o.embed_s : 0.0, o.index_s,
                         o.total_s));
  out.info(fmt::format("content {}{}", o.content_sha256.substr(0, 16),
                       o.run_id.empty() ? std::string(" (not in a project: not stored)")
                                        : fmt::format(", stored as {}, run {}",
                                                      o.stored_sha256.substr(0, 16), o.run_id)));
}

int run_build(cli::Context& ctx, const app::IndexBuildRequest& r) {
  const auto* ws = optional_workspace(ctx);
  std::unique_ptr<cli::ProgressBar> bar;
  app::IndexObserver obs;
  obs.on_info = [&ctx](const std::string& s) { ctx.out().info(s); };
  obs.on_progress = [&](size_t done, size_t total) {
    if (!bar) bar = std::make_unique<cli::ProgressBar>(ctx.out(), "embedding", total, false);
    bar->set(done);
  };
  auto o = app::build_index(r, ws, obs);
  if (bar) bar->finish();
  render_outcome(ctx, o, r.add ? "updated" : "built");
  return 0;
}

int run_remove(cli::Context& ctx, const app::IndexRemoveRequest& r) {
  auto o = app::remove_from_index(r, optional_workspace(ctx));
  render_outcome(ctx, o, "updated");
  return 0;
}

std::string one_line(std::string s, size_t max) {
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
      --cut;  // whole UTF-8 characters
    s = s.substr(0, cut) + "…";
  }
  return s;
}

int run_query(cli::Context& ctx, const app::IndexQueryRequest& r) {
  auto o = app::query_index(r, optional_workspace(ctx));
  auto& out = ctx.out();
  if (out.json()) {
    json hits = json::array();
    for (const auto& h : o.hits)
      hits.push_back({{"id", h.id},
                      {"score", h.score},
                      {"source", h.source},
                      {"start", h.start},
                      {"end", h.end},
                      {"text", h.text},
                      {"meta", h.meta}});
    out.print_json({{"index", o.index},
                    {"version", o.version},
                    {"content_sha256", o.content_sha256},
                    {"search", o.approximate ? "hnsw" : "exact"},
                    {"ms", o.search_ms},
                    {"hits", hits}});
    return 0;
  }
  if (o.hits.empty()) {
    out.info("no chunks match");
    return 0;
  }
  cli::Table t({"#", "SCORE", "SOURCE", "TEXT"});
  for (size_t i = 0; i < o.hits.size(); ++i) {
    const auto& h = o.hits[i];
    // A JSONL document's offsets are inside its line's text.
    auto where = h.meta.contains("line") ? fmt::format("{} line {}, {}-{}", h.source,
                                                       h.meta["line"].dump(), h.start, h.end)
                                         : fmt::format("{}:{}-{}", h.source, h.start, h.end);
    t.add({std::to_string(i + 1), fmt::format("{:.4f}", h.score), where, one_line(h.text, 100)});
  }
  t.print(out);
  out.info(fmt::format("{} ({}), {} search in {:.1f} ms", o.version, o.content_sha256.substr(0, 12),
                       o.approximate ? "HNSW" : "exact", o.search_ms));
  return 0;
}

int run_info(cli::Context& ctx, const std::string& ref) {
  auto j = app::index_info(ref, optional_workspace(ctx));
  auto& out = ctx.out();
  if (out.json()) return out.print_json(j), 0;
  out.line(fmt::format("index      {} ({})", j["version"].get<std::string>(),
                       j["index"].get<std::string>()));
  out.line(fmt::format("content    {}", j["content_sha256"].get<std::string>()));
  out.line(fmt::format("embedding  {} ({}, {}-d, {})", j["embedding"]["ref"].get<std::string>(),
                       j["embedding"]["describe"].get<std::string>(),
                       j["embedding"]["dims"].get<int>(),
                       j["embedding"]["sha256"].get<std::string>().empty()
                           ? std::string("a provider")
                           : j["embedding"]["sha256"].get<std::string>().substr(0, 12)));
  out.line(fmt::format("chunking   {} {} with {} overlapping", j["chunking"]["size"].get<int>(),
                       j["chunking"]["unit"].get<std::string>(),
                       j["chunking"]["overlap"].get<int>()));
  out.line(fmt::format(
      "search     {} (HNSW m={}, ef_construction={}, ef_search={}{}; exact below {} chunks)",
      j["search"].get<std::string>(), j["ann"]["m"].get<int>(),
      j["ann"]["ef_construction"].get<int>(), j["ann"]["ef_search"].get<int>(),
      j["ann"]["recall"].is_number()
          ? fmt::format(", recall@10 {:.3f}", j["ann"]["recall"].get<double>())
          : "",
      j["ann"]["exact_below"].get<size_t>()));
  out.line(fmt::format("size       {} chunks, {} bytes", j["chunks"].get<size_t>(),
                       j["bytes"].get<uint64_t>()));
  cli::Table t({"SOURCE", "CHUNKS", "SHA256"});
  for (const auto& s : j["sources"])
    t.add({s["path"].get<std::string>(), std::to_string(s["chunks"].get<size_t>()),
           s["sha256"].get<std::string>().substr(0, 16)});
  t.print(out);
  return 0;
}

void ann_flags(CLI::App* c, app::IndexBuildRequest& r) {
  c->add_option("--m", r.ann.m, "HNSW graph degree")
      ->capture_default_str()
      ->check(CLI::Range(2, 256));
  c->add_option("--ef-construction", r.ann.ef_construction, "HNSW candidates while inserting")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  c->add_option("--ef-search", r.ann.ef_search, "HNSW candidates while searching (recall vs speed)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  c->add_option("--exact-below", r.ann.exact_below,
                "Below this many chunks: exact search, no graph")
      ->capture_default_str();
  c->add_option(
       "--target-recall", r.ann.target_recall,
       "Raise ef_search until recall@10 against exact search (on sampled chunks) reaches this; "
       "none does: search exactly. 0: keep ef_search")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
}

}  // namespace

void register_index(CLI::App& app, cli::Context& ctx) {
  auto* sub = app.add_subcommand(
      "index", "Vector indexes of text for retrieval (RAG), versioned like models");
  sub->require_subcommand(1);

  auto br = std::make_shared<app::IndexBuildRequest>();
  auto* b = sub->add_subcommand("build", "Chunk, embed and index text files (replaces the index)");
  b->add_option("name", br->name, "An artifact name, a path, or NAME (indexes/NAME in a project)")
      ->required();
  b->add_option("--from", br->from,
                "Files or directories: .txt .md .rst, or .jsonl with a text field")
      ->required();
  b->add_option(
       "--embedding", br->embedding,
       "The embedding model: a sentence encoder or model (path, artifact, NAME@vX, NAME#stage) or "
       "openai:embedding:MODEL")
      ->required();
  b->add_option("--chunk", br->chunk,
                "Tokens per chunk (0: one chunk per document); default 200, or fewer when the "
                "encoder reads fewer");
  b->add_option("--overlap", br->overlap,
                "Tokens shared by neighbouring chunks; default a fifth of --chunk, at most 40");
  b->add_option("--batch", br->batch, "Chunks per embedding call (bounds memory)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  b->add_option("--threads", br->threads, "Threads (0: all cores)")->capture_default_str();
  ann_flags(b, *br);
  b->callback([&ctx, br] { ctx.action = [&ctx, br] { return run_build(ctx, *br); }; });

  auto ar = std::make_shared<app::IndexBuildRequest>();
  ar->add = true;
  auto* a =
      sub->add_subcommand("add", "Add sources to an index; a changed source's chunks are replaced");
  a->add_option("name", ar->name, "The index")->required();
  a->add_option("--from", ar->from, "Files or directories to add")->required();
  a->add_option("--batch", ar->batch, "Chunks per embedding call")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  a->add_option("--threads", ar->threads, "Threads (0: all cores)")->capture_default_str();
  a->callback([&ctx, ar] { ctx.action = [&ctx, ar] { return run_build(ctx, *ar); }; });

  auto rr = std::make_shared<app::IndexRemoveRequest>();
  auto* rm = sub->add_subcommand("rm", "Remove sources or chunks from an index");
  rm->add_option("name", rr->name, "The index")->required();
  rm->add_option("--source", rr->sources, "A source path as the index records it (repeatable)");
  rm->add_option("--id", rr->ids, "A chunk id (repeatable)");
  rm->callback([&ctx, rr] { ctx.action = [&ctx, rr] { return run_remove(ctx, *rr); }; });

  auto qr = std::make_shared<app::IndexQueryRequest>();
  auto* q = sub->add_subcommand("query", "The chunks nearest to a text");
  q->add_option("name", qr->name, "The index: NAME, a path, NAME@vX.Y.Z or NAME#stage")->required();
  q->add_option("text", qr->text, "The query text")->required();
  q->add_option("-k", qr->k, "How many chunks")->capture_default_str();
  q->add_option("--where", qr->where,
                "Only chunks whose metadata has KEY=VALUE (repeatable; source=PATH too)");
  q->add_flag("--exact", qr->exact, "Scan every vector instead of walking the HNSW graph");
  q->add_option("--embedding", qr->embedding,
                "Another ref of the same embedding model (its content is checked)");
  q->callback([&ctx, qr] { ctx.action = [&ctx, qr] { return run_query(ctx, *qr); }; });

  auto ir = std::make_shared<std::string>();
  auto* info = sub->add_subcommand(
      "info", "What an index holds: embedding model, chunking, search, sources");
  info->add_option("name", *ir, "The index: NAME, a path, NAME@vX.Y.Z or NAME#stage")->required();
  info->callback([&ctx, ir] { ctx.action = [&ctx, ir] { return run_info(ctx, *ir); }; });
}

}  // namespace xops::commands
