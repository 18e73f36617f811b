#pragma once
// `xops index`: build an index from files (chunk, embed in batches, HNSW or exact), add and
// remove sources incrementally, query it, describe it. The index is a directory tracked like a
// model (core/index/index_store.hpp); a build or change inside a project stores it and records
// a run (kind "index") with its sources as inputs.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/index/embedder.hpp"
#include "core/index/index_store.hpp"

namespace xops {
class Workspace;
}

namespace xops::app {

struct IndexBuildRequest {
  std::string name;               // an artifact name, a path, or indexes/NAME in a project
  std::vector<std::string> from;  // files and directories (.txt .md .rst .jsonl)
  std::string embedding;          // a model ref or openai:embedding:MODEL (add: the index's own)
  int chunk = -1, overlap = -1;   // -1: 200 / 40 (add: the index's own)
  index::AnnParams ann;
  size_t batch = 64;  // texts per embedding call: memory is bounded by this, not the corpus
  int threads = 0;
  bool add = false;  // onto the existing index: new sources added, changed ones replaced
};

struct IndexObserver {
  std::function<void(const std::string&)> on_info;
  std::function<void(size_t done, size_t total)> on_progress;  // chunks embedded
};

struct IndexBuildOutcome {
  std::filesystem::path dir;
  size_t sources_indexed = 0, sources_unchanged = 0, chunks_added = 0, chunks_removed = 0,
         chunks = 0;
  double chunk_s = 0, embed_s = 0, index_s = 0, total_s = 0;
  bool approximate = false;
  // The graph's calibration (index::AnnParams): the ef_search chosen, the recall@10 it measured,
  // and whether no ef_search reached the target (exact search then).
  int ef_search = 0;
  double recall = -1;
  bool exact_fallback = false;
  std::string content_sha256, stored_sha256, run_id;
};

IndexBuildOutcome build_index(const IndexBuildRequest& r, const Workspace* ws,
                              const IndexObserver& obs = {});

struct IndexRemoveRequest {
  std::string name;
  std::vector<std::string> sources;
  std::vector<uint64_t> ids;
};
IndexBuildOutcome remove_from_index(const IndexRemoveRequest& r, const Workspace* ws);

struct Retrieved {
  uint64_t id = 0;
  float score = 0;
  std::string source, text;
  uint64_t start = 0, end = 0;
  nlohmann::json meta;
};

// An index opened for search with the embedding model it was built with (its content hash
// checked): `xops index query`, and retrieval in eval suites and serve.
class Retriever {
 public:
  // embedding: "" = the manifest's; another ref must have the same content.
  static std::unique_ptr<Retriever> open(const std::string& ref, const Workspace* ws,
                                         const std::string& embedding = "");
  std::vector<Retrieved> search(const std::string& text, size_t k,
                                const std::vector<index::Where>& where = {}, bool exact = false);
  const index::Index& index() const { return ix_; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& version() const {
    return version_;
  }  // NAME@vX for a registry ref, else the ref

 private:
  Retriever(index::Index ix) : ix_(std::move(ix)) {}
  index::Index ix_;
  std::unique_ptr<index::Embedder> embedder_;
  std::filesystem::path dir_;
  std::string version_;
};

struct IndexQueryRequest {
  std::string name, text, embedding;
  size_t k = 5;
  std::vector<std::string> where;
  bool exact = false;
};
struct IndexQueryOutcome {
  std::string index, version, content_sha256;
  bool approximate = false;
  double embed_ms = 0, search_ms = 0;
  std::vector<Retrieved> hits;
};
IndexQueryOutcome query_index(const IndexQueryRequest& r, const Workspace* ws);

// Where NAME lives for writing: an xops.yaml artifact's path, an existing or explicit path,
// else indexes/NAME in a project.
std::filesystem::path index_dir_for_write(const std::string& name, const Workspace* ws);
// The manifest and sizes of an index (a name, path or registry ref).
nlohmann::json index_info(const std::string& ref, const Workspace* ws);

}  // namespace xops::app
