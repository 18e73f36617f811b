// An index's vector table and HNSW graph, as a pulled index brings them: the first 4 bytes
// give the length of vectors.bin, the rest is hnsw.bin (none when empty). Loading must refuse
// bad files with an xops::Error, and a search over what loads must stay inside its arrays.
// Seeds (fuzz/seeds/index_files): an index of 4 chunks with a graph (`xops index build ix
// --from a.txt --embedding tests/fixtures/bert-tiny --chunk 3 --exact-below 1 --m 4`), framed
// as above, and its vector table alone.
#include <cstring>

#include "core/index/vector_index.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t n = 0;
  std::memcpy(&n, data, 4);
  size_t vec = std::min<size_t>(n, size - 4);
  static const auto dir = xops::fuzz::scratch_dir() / "index";
  std::filesystem::create_directories(dir);
  xops::fuzz::write_file(dir / "vectors.bin", data + 4, vec);
  std::error_code ec;
  if (size - 4 - vec > 0)
    xops::fuzz::write_file(dir / "hnsw.bin", data + 4 + vec, size - 4 - vec);
  else
    std::filesystem::remove(dir / "hnsw.bin", ec);
  return xops::fuzz::expect_error_or_success([&] {
    xops::index::AnnParams p;
    p.exact_below = 1;  // read the graph whenever there is one
    auto ix = xops::index::VectorIndex::load(dir, p);
    std::vector<float> q(static_cast<size_t>(ix.dims()), 0.5f);
    ix.search(q, 5);
    ix.search(q, 5, [](uint64_t id) { return id % 2 == 0; });
  });
}
