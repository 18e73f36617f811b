#include "core/index/vector_index.hpp"

#include <fcntl.h>
#include <hnswlib/hnswlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <queue>
#include <thread>
#include <unordered_map>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/parallel.hpp"

namespace xops::index {

namespace {

constexpr char kMagic[8] = {'X', 'O', 'P', 'S', 'V', 'E', 'C', '1'};
constexpr uint64_t kMaxRows = 1ull << 32;
constexpr int kMaxDims = 1 << 16;

// Eight partial sums: the compiler keeps them in vector registers (one fixed order, so the
// same inputs give the same score every time).
float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

struct ByScore {  // the best first; ties by id, so results are the same every time
  bool operator()(const Hit& a, const Hit& b) const {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  }
};

void fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw runtime_error(fmt::format("cannot open {}: {}", p.string(), errno_text(errno)));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    throw runtime_error(fmt::format("cannot sync {}: {}", p.string(), errno_text(errno)));
}

template <typename T>
T read_pod(const std::string& bytes, size_t& off, const std::string& display) {
  if (off + sizeof(T) > bytes.size()) throw runtime_error(fmt::format("{}: truncated", display));
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof(T));
  off += sizeof(T);
  return v;
}

// hnswlib sizes its allocations from the file's header: check it against what vectors.bin
// says before hnswlib reads it (its own check comes after the allocation).
void check_graph_header(const fs::path& path, uint32_t dims, uint64_t rows) {
  auto display = path.string();
  std::ifstream in(path, std::ios::binary);
  std::string head(96, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  size_t off = 0;
  auto offset_level0 = read_pod<uint64_t>(head, off, display),
       max_elements = read_pod<uint64_t>(head, off, display),
       count = read_pod<uint64_t>(head, off, display),
       per_element = read_pod<uint64_t>(head, off, display),
       label_offset = read_pod<uint64_t>(head, off, display),
       data_offset = read_pod<uint64_t>(head, off, display);
  read_pod<int32_t>(head, off, display);   // maxlevel, checked after loading
  read_pod<uint32_t>(head, off, display);  // entry point, checked after loading
  auto max_m = read_pod<uint64_t>(head, off, display),
       max_m0 = read_pod<uint64_t>(head, off, display), m = read_pod<uint64_t>(head, off, display);
  bool ok = offset_level0 == 0 && count <= rows && max_elements <= std::max<uint64_t>(rows, 1) &&
            m >= 2 && m <= 256 && max_m == m && max_m0 == 2 * m && data_offset == max_m0 * 4 + 4 &&
            label_offset == data_offset + dims * 4ull &&
            per_element == label_offset + sizeof(hnswlib::labeltype);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ok && size < 96 + count * per_element) ok = false;
  // The framing hnswlib would check only after allocating by the header: each element's upper
  // levels as a length (whole levels, at most 64) and that many bytes, ending at the file's end.
  // Checked here, so that loadIndex does not throw half-way through (see load()).
  uint64_t pos = 96 + count * per_element;
  const uint64_t per_level = max_m * 4 + 4;
  for (uint64_t i = 0; ok && i < count; ++i) {
    uint32_t len = 0;
    in.clear();
    in.seekg(static_cast<std::streamoff>(pos));
    in.read(reinterpret_cast<char*>(&len), 4);
    if (!in || len % per_level != 0 || len / per_level > 64) ok = false;
    pos += 4 + len;
    if (pos > size) ok = false;
  }
  if (ok && pos != size) ok = false;
  if (!ok)
    throw runtime_error(
        fmt::format(
            "{}: the graph's header does not match vectors.bin ({} vectors of {} dimensions)",
            display, rows, dims),
        "rebuild the index: xops index build");
}

}  // namespace

void normalize(std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  if (s <= 0 || !std::isfinite(s)) return;
  float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (float& x : v) x *= inv;
}

struct VectorIndex::Impl {
  int dims;
  AnnParams params;
  std::vector<float> rows;
  std::vector<uint64_t> ids;
  std::vector<uint8_t> alive;
  std::unordered_map<uint64_t, size_t> row_of;
  size_t live = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;

  const float* row(size_t r) const { return rows.data() + r * static_cast<size_t>(dims); }

  void insert_into_graph(size_t first, size_t last, int threads) {
    if (graph->max_elements_ < last)
      graph->resizeIndex(std::max<size_t>(last, graph->max_elements_ * 2));
    parallel_for(last - first, threads, [&](size_t i) {
      size_t r = first + i;
      if (alive[r]) graph->addPoint(row(r), r);
    });
  }

  void build_graph(int threads) {
    space = std::make_unique<hnswlib::InnerProductSpace>(static_cast<size_t>(dims));
    graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        space.get(), std::max<size_t>(ids.size(), 1), static_cast<size_t>(params.m),
        static_cast<size_t>(params.ef_construction));
    insert_into_graph(0, ids.size(), threads);
  }

  // Drops dead rows (ids keep their vectors; rows are renumbered).
  void compact() {
    size_t w = 0;
    for (size_t r = 0; r < ids.size(); ++r) {
      if (!alive[r]) continue;
      if (w != r)
        std::memmove(rows.data() + w * dims, row(r), sizeof(float) * static_cast<size_t>(dims));
      ids[w] = ids[r];
      alive[w] = 1;
      row_of[ids[w]] = w;
      ++w;
    }
    ids.resize(w), alive.resize(w), rows.resize(w * static_cast<size_t>(dims));
    graph.reset();
  }

  // The k best of rows [from, to).
  void scan_range(const std::vector<float>& q, size_t k, const std::function<bool(uint64_t)>& allow,
                  size_t from, size_t to, std::vector<Hit>& out) const {
    std::priority_queue<Hit, std::vector<Hit>, ByScore> best;  // the worst kept on top
    for (size_t r = from; r < to; ++r) {
      if (!alive[r] || (allow && !allow(ids[r]))) continue;
      Hit h{ids[r], dot(q.data(), row(r), dims)};
      if (best.size() < k) {
        best.push(h);
      } else if (ByScore()(h, best.top())) {
        best.pop();
        best.push(h);
      }
    }
    while (!best.empty()) out.push_back(best.top()), best.pop();
  }

  // Every row compared: split over the cores when the table is large (each part keeps its k
  // best; the merge keeps the k best of those).
  std::vector<Hit> scan(const std::vector<float>& q, size_t k,
                        const std::function<bool(uint64_t)>& allow) const {
    std::vector<Hit> out;
    const size_t n = ids.size(), work = n * static_cast<size_t>(dims);
    size_t parts = work < (size_t{1} << 22) ? 1 : std::min<size_t>(resolve_jobs(0), 8);
    if (parts <= 1) {
      scan_range(q, k, allow, 0, n, out);
    } else {
      std::vector<std::vector<Hit>> found(parts);
      std::vector<std::thread> threads;
      for (size_t t = 0; t < parts; ++t)
        threads.emplace_back(
            [&, t] { scan_range(q, k, allow, n * t / parts, n * (t + 1) / parts, found[t]); });
      for (auto& th : threads) th.join();
      for (auto& f : found) out.insert(out.end(), f.begin(), f.end());
    }
    std::sort(out.begin(), out.end(), ByScore());
    if (out.size() > k) out.resize(k);
    return out;
  }

  std::vector<Hit> walk(const std::vector<float>& q, size_t k) const {
    graph->setEf(std::max<size_t>(static_cast<size_t>(params.ef_search), k));
    auto res = graph->searchKnn(q.data(), k);
    std::vector<Hit> out;
    while (!res.empty()) {
      size_t r = res.top().second;
      out.push_back({ids[r], 1.0f - res.top().first});
      res.pop();
    }
    std::sort(out.begin(), out.end(), ByScore());
    return out;
  }
};

VectorIndex::VectorIndex(int dims, AnnParams params) : impl_(std::make_unique<Impl>()) {
  if (dims < 1 || dims > kMaxDims)
    throw runtime_error(fmt::format("vectors of {} dimensions are not supported", dims));
  if (params.m < 2 || params.m > 256 || params.ef_construction < 1 || params.ef_search < 1)
    throw usage_error("HNSW parameters out of range",
                      "m 2..256, ef_construction and ef_search >= 1");
  impl_->dims = dims;
  impl_->params = params;
}
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;
VectorIndex::~VectorIndex() = default;

int VectorIndex::dims() const {
  return impl_->dims;
}
size_t VectorIndex::size() const {
  return impl_->live;
}
bool VectorIndex::approximate() const {
  return impl_->graph != nullptr;
}
const AnnParams& VectorIndex::params() const {
  return impl_->params;
}
void VectorIndex::set_ef_search(int ef) {
  if (ef < 1) throw usage_error(fmt::format("ef_search {} is out of range", ef), "ef_search >= 1");
  impl_->params.ef_search = ef;
}

void VectorIndex::add(const std::vector<uint64_t>& ids,
                      const std::vector<std::vector<float>>& vectors, int threads) {
  auto& I = *impl_;
  if (ids.size() != vectors.size())
    throw runtime_error("VectorIndex::add: ids and vectors differ in number");
  size_t first = I.ids.size();
  I.rows.reserve(I.rows.size() + vectors.size() * static_cast<size_t>(I.dims));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (static_cast<int>(vectors[i].size()) != I.dims)
      throw runtime_error(
          fmt::format("a vector of {} dimensions for an index of {}", vectors[i].size(), I.dims),
          "every vector of an index comes from the same embedding model");
    remove(ids[i]);
    auto v = vectors[i];
    normalize(v);
    I.rows.insert(I.rows.end(), v.begin(), v.end());
    I.row_of[ids[i]] = I.ids.size();
    I.ids.push_back(ids[i]);
    I.alive.push_back(1);
    ++I.live;
  }
  if (I.ids.size() >= kMaxRows) throw runtime_error("an index holds at most 2^32 vectors");
  if (I.graph && I.ids.size() - I.live > I.live) {  // mostly dead: rebuild from the live rows
    I.compact();
    reindex(threads);
  } else if (I.graph) {
    I.insert_into_graph(first, I.ids.size(), threads);
  } else {
    reindex(threads);
  }
}

bool VectorIndex::remove(uint64_t id) {
  auto& I = *impl_;
  auto it = I.row_of.find(id);
  if (it == I.row_of.end()) return false;
  I.alive[it->second] = 0;
  if (I.graph) I.graph->markDelete(it->second);
  I.row_of.erase(it);
  --I.live;
  return true;
}

void VectorIndex::reindex(int threads) {
  auto& I = *impl_;
  if (I.live < I.params.exact_below) {
    I.graph.reset();
    return;
  }
  if (!I.graph) I.build_graph(threads);
}

std::vector<Hit> VectorIndex::search(const std::vector<float>& query, size_t k,
                                     const std::function<bool(uint64_t)>& allow, bool exact) const {
  const auto& I = *impl_;
  if (static_cast<int>(query.size()) != I.dims)
    throw runtime_error(
        fmt::format("a query of {} dimensions for an index of {}", query.size(), I.dims),
        "query with the embedding model the index was built with");
  if (k == 0 || I.live == 0) return {};
  auto q = query;
  normalize(q);
  if (exact || !I.graph || I.params.force_exact) return I.scan(q, k, allow);
  if (!allow) return I.walk(q, std::min(k, I.live));
  // A filter: a selective one scans the rows it allows; a broad one walks the graph for more
  // candidates than asked, widening until k pass (hnswlib 0.6 has no filtered search).
  size_t allowed = 0;
  for (size_t r = 0; r < I.ids.size(); ++r) allowed += I.alive[r] && allow(I.ids[r]);
  if (allowed * 5 < I.live) return I.scan(q, k, allow);
  for (size_t want = k * 2;; want *= 4) {
    want = std::min(want, I.live);
    std::vector<Hit> kept;
    for (const auto& h : I.walk(q, want))
      if (allow(h.id)) kept.push_back(h);
    if (kept.size() >= std::min(k, allowed)) {
      kept.resize(std::min(k, kept.size()));
      return kept;
    }
    if (want == I.live) break;
  }
  return I.scan(q, k, allow);
}

void VectorIndex::calibrate(size_t sample, size_t k) {
  auto& I = *impl_;
  if (!I.graph || I.params.target_recall <= 0 || I.live <= k + 1) return;
  std::vector<size_t> rows;
  size_t step = std::max<size_t>(1, I.live / sample), seen = 0;
  for (size_t r = 0; r < I.ids.size() && rows.size() < sample; ++r)
    if (I.alive[r] && seen++ % step == 0) rows.push_back(r);
  // The exact k nearest of each sampled vector, itself left out.
  auto without = [&](std::vector<Hit> hits, uint64_t self) {
    std::vector<uint64_t> out;
    for (const auto& h : hits)
      if (h.id != self && out.size() < k) out.push_back(h.id);
    return out;
  };
  std::vector<std::vector<uint64_t>> truth;
  std::vector<std::vector<float>> queries;
  for (size_t r : rows) {
    queries.emplace_back(I.row(r), I.row(r) + I.dims);
    truth.push_back(without(I.scan(queries.back(), k + 1, {}), I.ids[r]));
  }
  const size_t top = std::max<size_t>(4096, static_cast<size_t>(I.params.ef_search));
  double best = 0;
  int best_ef = I.params.ef_search;
  for (size_t ef = static_cast<size_t>(I.params.ef_search);; ef = std::min(top, ef * 2)) {
    I.params.ef_search = static_cast<int>(ef);
    size_t found = 0, wanted = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      auto got = without(I.walk(queries[i], std::min(k + 1, I.live)), I.ids[rows[i]]);
      for (auto id : got)
        found += std::find(truth[i].begin(), truth[i].end(), id) != truth[i].end();
      wanted += truth[i].size();
    }
    double recall = wanted ? double(found) / double(wanted) : 1.0;
    if (recall > best) best = recall, best_ef = static_cast<int>(ef);
    if (recall >= I.params.target_recall) {
      I.params.force_exact = false;
      I.params.recall = recall;
      return;
    }
    if (ef >= top || ef >= I.live) break;
  }
  // No ef_search reaches the target on this data: exact search (the graph is kept, and is used
  // again if a later calibration succeeds).
  I.params.ef_search = best_ef;
  I.params.force_exact = true;
  I.params.recall = best;
}

void VectorIndex::save(const fs::path& dir) const {
  const auto& I = *impl_;
  {
    AtomicFileWriter w(dir / "vectors.bin");
    w.write(kMagic, sizeof kMagic);
    uint32_t dims = static_cast<uint32_t>(I.dims), reserved = 0;
    uint64_t n = I.ids.size();
    w.write(&dims, 4), w.write(&reserved, 4), w.write(&n, 8);
    w.write(I.ids.data(), n * 8);
    w.write(I.alive.data(), n);
    w.write(I.rows.data(), I.rows.size() * sizeof(float));
    w.commit();
  }
  std::error_code ec;
  if (!I.graph) {
    fs::remove(dir / "hnsw.bin", ec);
    return;
  }
  auto tmp = temp_path_beside(dir / "hnsw.bin");
  try {
    I.graph->saveIndex(tmp.string());
    fsync_path(tmp);
    fs::rename(tmp, dir / "hnsw.bin");
    fsync_dir(dir);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

VectorIndex VectorIndex::load(const fs::path& dir, AnnParams params) {
  auto path = dir / "vectors.bin";
  auto display = path.string();
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) throw runtime_error(fmt::format("{}: cannot read: {}", display, ec.message()));
  auto bytes = read_file_limited(path, size, "a vector table");
  size_t off = 0;
  if (bytes.size() < 24 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw runtime_error(fmt::format("{}: not an xops vector table", display),
                        "rebuild the index: xops index build");
  off = 8;
  auto dims = read_pod<uint32_t>(bytes, off, display);
  read_pod<uint32_t>(bytes, off, display);
  auto n = read_pod<uint64_t>(bytes, off, display);
  if (dims < 1 || dims > static_cast<uint32_t>(kMaxDims) || n >= kMaxRows)
    throw runtime_error(
        fmt::format("{}: {} vectors of {} dimensions is out of range", display, n, dims));
  // Every count is checked against the file's size before anything is allocated by it.
  uint64_t need = 24 + n * 8 + n + n * dims * 4ull;
  if (need != bytes.size())
    throw runtime_error(fmt::format("{}: {} bytes, but {} vectors of {} dimensions need {}",
                                    display, bytes.size(), n, dims, need));
  VectorIndex v(static_cast<int>(dims), params);
  auto& I = *v.impl_;
  I.ids.resize(n), I.alive.resize(n), I.rows.resize(n * dims);
  std::memcpy(I.ids.data(), bytes.data() + off, n * 8);
  off += n * 8;
  std::memcpy(I.alive.data(), bytes.data() + off, n);
  off += n;
  std::memcpy(I.rows.data(), bytes.data() + off, n * dims * 4ull);
  for (size_t r = 0; r < n; ++r) {
    if (I.alive[r] > 1)
      throw runtime_error(fmt::format("{}: row {} has a bad live flag", display, r));
    if (!I.alive[r]) continue;
    if (!I.row_of.emplace(I.ids[r], r).second)
      throw runtime_error(fmt::format("{}: id {} is live twice", display, I.ids[r]));
    ++I.live;
  }
  bytes.clear();
  bytes.shrink_to_fit();
  if (fs::exists(dir / "hnsw.bin", ec) && I.live >= params.exact_below) {
    check_graph_header(dir / "hnsw.bin", dims, n);
    I.space = std::make_unique<hnswlib::InnerProductSpace>(static_cast<size_t>(dims));
    I.graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(I.space.get());
    try {
      I.graph->loadIndex((dir / "hnsw.bin").string(), I.space.get(), n);
    } catch (const std::exception& e) {
      // hnswlib's loading constructor leaves its pointers unset and loadIndex sets them as it
      // goes: the destructor of a half-loaded graph frees garbage (found by fuzz_index_files).
      // Leak it instead; the checks above leave only an allocation failure to get here.
      (void)I.graph.release();
      throw runtime_error(fmt::format("{}: {}", (dir / "hnsw.bin").string(), e.what()),
                          "rebuild the index: xops index build");
    }
    // hnswlib checks the file's framing; the links themselves are checked here, so a damaged
    // or hostile graph cannot send a search outside its arrays.
    auto& g = *I.graph;
    if (g.cur_element_count > n || g.data_size_ != dims * sizeof(float) || g.maxlevel_ < 0 ||
        g.maxlevel_ > 64 || g.enterpoint_node_ >= g.cur_element_count)
      throw runtime_error(
          fmt::format("{}: the graph does not match vectors.bin", (dir / "hnsw.bin").string()),
          "rebuild the index: xops index build");
    size_t in_graph = 0;
    for (hnswlib::tableint i = 0; i < g.cur_element_count; ++i) {
      auto label = g.getExternalLabel(i);
      if (label >= n || (I.alive[label] != 0) == g.isMarkedDeleted(i) || g.element_levels_[i] < 0 ||
          g.element_levels_[i] > g.maxlevel_)
        throw runtime_error(
            fmt::format("{}: node {} does not match vectors.bin", (dir / "hnsw.bin").string(), i));
      in_graph += !g.isMarkedDeleted(i);
      for (int level = 0; level <= g.element_levels_[i]; ++level) {
        auto* ll = level == 0 ? g.get_linklist0(i) : g.get_linklist(i, level);
        auto count = g.getListCount(ll);
        if (count > (level == 0 ? g.maxM0_ : g.maxM_))
          throw runtime_error(
              fmt::format("{}: node {} has too many links", (dir / "hnsw.bin").string(), i));
        auto* links = reinterpret_cast<hnswlib::tableint*>(ll + 1);
        for (size_t j = 0; j < count; ++j)
          if (links[j] >= g.cur_element_count)
            throw runtime_error(
                fmt::format("{}: node {} links outside the graph", (dir / "hnsw.bin").string(), i));
        // A link at `level` leads to a node that has that level (the search reads its list).
        if (level > 0)
          for (size_t j = 0; j < count; ++j)
            if (g.element_levels_[links[j]] < level)
              throw runtime_error(fmt::format("{}: node {} links at level {} to a node without it",
                                              (dir / "hnsw.bin").string(), i, level));
      }
    }
    // The search starts at the entry point on the top level: it must have that level.
    if (g.cur_element_count && g.element_levels_[g.enterpoint_node_] != g.maxlevel_)
      throw runtime_error(
          fmt::format("{}: the entry point is not on the top level", (dir / "hnsw.bin").string()),
          "rebuild the index: xops index build");
    if (in_graph != I.live)
      throw runtime_error(fmt::format("{}: {} live nodes for {} live vectors",
                                      (dir / "hnsw.bin").string(), in_graph, I.live),
                          "rebuild the index: xops index build");
  }
  v.reindex();
  return v;
}

}  // namespace xops::index
