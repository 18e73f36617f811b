#pragma once
// An index on disk: a directory that is a tracked artifact like a model (pushed, registered,
// promoted as NAME@vX / NAME#prod).
//   index.json     the manifest: embedding model (ref, content hash, description), chunking,
//                  HNSW parameters, sources with their hashes, content_sha256
//   chunks.jsonl   one chunk per line: id, source, byte offsets, text, metadata
//   vectors.bin    the unit vectors by chunk id (vector_index.hpp), hnsw.bin the graph
// content_sha256 hashes what the index answers with (embedding model and parameters, every
// chunk's id, source, offsets, text and metadata), not the graph: two builds of the same
// input have the same content hash even where parallel insertion orders the graph differently.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/index/chunker.hpp"
#include "core/index/vector_index.hpp"

namespace xops::index {

struct Chunk {
  uint64_t id = 0;
  std::string source;
  uint64_t start = 0, end = 0;
  std::string text;
  nlohmann::json meta = nlohmann::json::object();  // string/number/bool fields, for --where
};

struct SourceEntry {
  std::string path, sha256;
  size_t chunks = 0;
};

struct Manifest {
  std::string embedding;         // as given: a model ref, or openai:embedding:MODEL
  std::string embedding_sha256;  // a local model's content hash ("" for a provider)
  std::string embedding_describe;
  int dims = 0;
  std::string chunk_unit = "tokens";  // "words" when the provider's tokenizer is not known
  ChunkSpec chunk;
  AnnParams ann;
  uint64_t next_id = 0;
  std::vector<SourceEntry> sources;  // by path
  std::string content_sha256;
  std::string created_by;  // "xops 0.1.0 (hnswlib 0.6.2)"
};

class Index {
 public:
  Manifest manifest;
  std::vector<Chunk> chunks;  // live chunks by id
  VectorIndex vectors;

  Index(Manifest m);
  static bool exists(const std::filesystem::path& dir);
  static Index open(const std::filesystem::path& dir);
  // Writes into a staging directory beside `dir` and swaps it in: readers see the old index
  // or the new one, never a mix. Computes content_sha256 first.
  void save(const std::filesystem::path& dir);

  const Chunk* chunk(uint64_t id) const;
  std::string content_hash() const;
  // Drops a source's chunks (from chunks, vectors and sources); the number dropped.
  size_t remove_source(const std::string& path);
};

// `key=value` conditions, all of which a chunk's metadata (or `source`) must meet.
struct Where {
  std::string key, value;
};
bool matches(const Chunk& c, const std::vector<Where>& where);
// index.json's document (also what `xops index info` prints, with a few fields added).
nlohmann::json manifest_json(const Manifest& m, size_t chunk_count);
std::vector<Where> parse_where(const std::vector<std::string>& args);  // throws usage errors

}  // namespace xops::index
