// Vector search: exact scan against a brute-force oracle, HNSW recall against exact search,
// delete and replace, filters, save/load, and damaged or hostile files refused before use.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>

#include "core/error.hpp"
#include "core/index/chunker.hpp"
#include "core/index/vector_index.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::index;

namespace {

std::vector<std::vector<float>> random_vectors(size_t n, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<std::vector<float>> out(n, std::vector<float>(static_cast<size_t>(d)));
  for (auto& v : out)
    for (auto& x : v) x = nd(rng);
  return out;
}

std::vector<uint64_t> iota_ids(size_t n, uint64_t from = 0) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = from + i;
  return ids;
}

// The oracle: cosine by hand, in double.
std::vector<uint64_t> brute_force(const std::vector<std::vector<float>>& vs,
                                  const std::vector<float>& q, size_t k) {
  std::vector<std::pair<double, uint64_t>> s;
  double qn = 0;
  for (float x : q) qn += double(x) * x;
  for (size_t i = 0; i < vs.size(); ++i) {
    double d = 0, n = 0;
    for (size_t j = 0; j < q.size(); ++j)
      d += double(vs[i][j]) * q[j], n += double(vs[i][j]) * vs[i][j];
    s.push_back({-d / std::sqrt(n * qn), i});
  }
  std::sort(s.begin(), s.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < k; ++i) out.push_back(s[i].second);
  return out;
}

std::vector<uint64_t> ids_of(const std::vector<Hit>& hits) {
  std::vector<uint64_t> out;
  for (const auto& h : hits) out.push_back(h.id);
  return out;
}

}  // namespace

TEST_CASE("exact search returns the brute-force neighbours in order", "[index]") {
  auto vs = random_vectors(500, 24, 1);
  VectorIndex ix(24, {});
  ix.add(iota_ids(vs.size()), vs);
  CHECK_FALSE(ix.approximate());
  auto qs = random_vectors(20, 24, 2);
  for (const auto& q : qs) CHECK(ids_of(ix.search(q, 10)) == brute_force(vs, q, 10));
  // Scores are cosines: a vector finds itself at 1.
  auto self = ix.search(vs[7], 1);
  REQUIRE(self.size() == 1);
  CHECK(self[0].id == 7);
  CHECK(self[0].score == Approx(1.0f).margin(1e-5));
}

TEST_CASE("HNSW recall@10 against exact search is at least 0.95", "[index]") {
  AnnParams p;
  p.exact_below = 1000;
  p.ef_search = 128;
  const int d = 32;
  auto vs = random_vectors(5000, d, 3);
  VectorIndex ix(d, p);
  ix.add(iota_ids(vs.size()), vs, 2);
  REQUIRE(ix.approximate());
  auto qs = random_vectors(100, d, 4);
  size_t found = 0;
  for (const auto& q : qs) {
    auto exact = ids_of(ix.search(q, 10, {}, true));
    CHECK(exact == brute_force(vs, q, 10));
    auto approx = ids_of(ix.search(q, 10));
    std::set<uint64_t> e(exact.begin(), exact.end());
    for (auto id : approx) found += e.count(id);
  }
  double recall = double(found) / (qs.size() * 10);
  INFO("recall@10 " << recall);
  CHECK(recall >= 0.95);
}

TEST_CASE("deleted and replaced vectors are never returned, and filters hold", "[index]") {
  for (size_t exact_below : {size_t(100000), size_t(100)}) {  // exact, then HNSW
    AnnParams p;
    p.exact_below = exact_below;
    auto vs = random_vectors(2000, 16, 5);
    VectorIndex ix(16, p);
    ix.add(iota_ids(vs.size()), vs);
    CHECK(ix.approximate() == (exact_below == 100));
    CHECK(ix.remove(7));
    CHECK_FALSE(ix.remove(7));
    CHECK(ix.size() == 1999);
    for (const auto& h : ix.search(vs[7], 50)) CHECK(h.id != 7);
    // Replacing id 8 with vector 9's: a query for vector 8 no longer finds it first.
    ix.add({8}, {vs[9]});
    auto top = ix.search(vs[9], 2);
    REQUIRE(top.size() == 2);
    CHECK(std::set<uint64_t>{top[0].id, top[1].id} == std::set<uint64_t>{8, 9});
    CHECK(ix.size() == 1999);
    // A selective filter (1 in 20) and a broad one (even ids) both give only allowed ids, k of
    // them.
    auto rare = ix.search(vs[0], 10, [](uint64_t id) { return id % 20 == 3; });
    CHECK(rare.size() == 10);
    for (const auto& h : rare) CHECK(h.id % 20 == 3);
    auto even = ix.search(vs[1], 10, [](uint64_t id) { return id % 2 == 0; });
    CHECK(even.size() == 10);
    for (const auto& h : even) CHECK(h.id % 2 == 0);
  }
}

TEST_CASE("an index saved and loaded answers the same, HNSW included", "[index]") {
  test::TempDir d;
  AnnParams p;
  p.exact_below = 300;
  auto vs = random_vectors(1000, 16, 6);
  VectorIndex ix(16, p);
  ix.add(iota_ids(vs.size(), 100), vs);
  ix.remove(150);
  ix.save(d.path());
  CHECK(std::filesystem::exists(d / "hnsw.bin"));
  auto back = VectorIndex::load(d.path(), p);
  CHECK(back.size() == 999);
  CHECK(back.approximate());
  auto qs = random_vectors(10, 16, 7);
  for (const auto& q : qs) CHECK(ids_of(back.search(q, 10)) == ids_of(ix.search(q, 10)));
  for (const auto& h : back.search(vs[50], 20)) CHECK(h.id != 150);
}

TEST_CASE("a damaged or hostile vector table or graph is refused before it is used", "[index]") {
  test::TempDir d;
  AnnParams p;
  p.exact_below = 50;
  auto vs = random_vectors(200, 8, 8);
  VectorIndex ix(8, p);
  ix.add(iota_ids(vs.size()), vs);
  ix.save(d.path());
  auto vec = read_file(d / "vectors.bin"), graph = read_file(d / "hnsw.bin");
  auto refused = [&](const std::string& needle) {
    try {
      VectorIndex::load(d.path(), p);
      FAIL("loaded");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  // A row count far beyond the file.
  auto big = vec;
  uint64_t n = 1ull << 31;
  std::memcpy(big.data() + 16, &n, 8);
  test::write_text(d / "vectors.bin", big);
  refused("need");
  test::write_text(d / "vectors.bin", vec.substr(0, vec.size() - 4));
  refused("need");
  test::write_text(d / "vectors.bin", "not a table at all, just text......");
  refused("not an xops vector table");
  test::write_text(d / "vectors.bin", vec);
  // The graph's header claiming more elements than there are vectors.
  auto g = graph;
  uint64_t many = 1ull << 40;
  std::memcpy(g.data() + 8, &many, 8);
  test::write_text(d / "hnsw.bin", g);
  refused("header does not match");
  // A link pointing outside the graph (node 0's first level-0 link).
  g = graph;
  uint64_t per_element = 0;
  std::memcpy(&per_element, graph.data() + 24, 8);
  uint32_t bad = 1u << 30;
  const size_t header = 8 * 6 + 4 + 4 + 8 * 3 + 8 + 8;
  uint32_t count = 0;
  std::memcpy(&count, g.data() + header, 4);
  REQUIRE((count & 0xFFFF) > 0);
  std::memcpy(g.data() + header + 4, &bad, 4);
  test::write_text(d / "hnsw.bin", g);
  refused("links outside the graph");
  test::write_text(d / "hnsw.bin", graph);
  CHECK(VectorIndex::load(d.path(), p).size() == 200);
}

TEST_CASE("chunks hold about N tokens, overlap, and keep their byte offsets", "[index]") {
  std::string text = "one two three four five six seven eight nine ten eleven twelve";
  auto count = [](std::string_view w) { return w.size() > 4 ? size_t(2) : size_t(1); };
  auto spans = chunk_text(text, {5, 2}, count);
  REQUIRE(spans.size() >= 3);
  for (const auto& s : spans) {
    CHECK(s.tokens <= 5);
    auto piece = text.substr(s.start, s.end - s.start);
    CHECK(piece.front() != ' ');
    CHECK(piece.back() != ' ');
  }
  CHECK(text.substr(spans[0].start, spans[0].end - spans[0].start) == "one two three four");
  // The second starts inside the first (overlap) and after its start.
  CHECK(spans[1].start > spans[0].start);
  CHECK(spans[1].start < spans[0].end);
  CHECK(spans.back().end == text.size());
  CHECK(chunk_text("   \n ", {5, 1}, count).empty());
  auto whole = chunk_text("  a b c  ", {0, 0}, count);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].start == 2);
  CHECK(whole[0].end == 7);
  CHECK_THROWS_AS(chunk_text(text, {4, 4}, count), Error);
  // A word longer than the chunk is a chunk by itself, and chunking always advances.
  auto longw = chunk_text("a bbbbbbbb c", {1, 0}, count);
  CHECK(longw.size() == 3);
}

TEST_CASE(
    "calibration picks the smallest ef_search that reaches the target, or falls back to exact",
    "[index]") {
  // Clustered data (8 tight clusters): the graph reaches the target at a small ef_search.
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  const int d = 16;
  auto centres = random_vectors(8, d, 12);
  std::vector<std::vector<float>> vs;
  for (int i = 0; i < 3000; ++i) {
    auto v = centres[static_cast<size_t>(i % 8)];
    for (auto& x : v) x += 0.05f * nd(rng);
    vs.push_back(v);
  }
  AnnParams p;
  p.exact_below = 100;
  p.ef_search = 8;
  VectorIndex easy(d, p);
  easy.add(iota_ids(vs.size()), vs);
  easy.calibrate();
  CHECK_FALSE(easy.params().force_exact);
  CHECK(easy.params().recall >= 0.95);
  CHECK(easy.params().ef_search >= 8);

  // Random 256-d vectors with a starved graph (m 2, ef_construction 4) and a target of 1.0:
  // no ef_search gets there, search is exact, and answers equal the brute force.
  AnnParams h;
  h.exact_below = 100;
  h.m = 2;
  h.ef_construction = 4;
  h.ef_search = 4;
  h.target_recall = 1.0;
  auto hard = random_vectors(3000, 256, 13);
  VectorIndex ix(256, h);
  ix.add(iota_ids(hard.size()), hard);
  ix.calibrate(50);
  CHECK(ix.params().force_exact);
  CHECK(ix.params().recall < 1.0);
  auto qs = random_vectors(5, 256, 14);
  for (const auto& q : qs) CHECK(ids_of(ix.search(q, 10)) == brute_force(hard, q, 10));
  // Saved and loaded, it stays exact.
  test::TempDir dir;
  ix.save(dir.path());
  auto back = VectorIndex::load(dir.path(), ix.params());
  CHECK(back.params().force_exact);
  for (const auto& q : qs) CHECK(ids_of(back.search(q, 10)) == brute_force(hard, q, 10));
}
