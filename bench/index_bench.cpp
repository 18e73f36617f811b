// xops's vector search on a fixed data set (raw float32 files), for bench/index.sh:
//   xops_bench_index run DATA.f32 QUERIES.f32 DIMS K M EF_CONSTRUCTION THREADS EF_SEARCH...
// `run` prints one JSON line: build seconds, exact-scan seconds per query, and per ef_search
// the query seconds and recall@K against the exact scan (our own brute force, checked against
// numpy's by the peer script on the same files).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/index/vector_index.hpp"

using namespace xops::index;
using clk = std::chrono::steady_clock;

static std::vector<std::vector<float>> read_f32(const std::string& path, int dims) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> flat;
  in.seekg(0, std::ios::end);
  auto bytes = static_cast<size_t>(in.tellg());
  in.seekg(0);
  flat.resize(bytes / 4);
  in.read(reinterpret_cast<char*>(flat.data()), static_cast<std::streamsize>(bytes));
  std::vector<std::vector<float>> out(flat.size() / static_cast<size_t>(dims));
  for (size_t i = 0; i < out.size(); ++i)
    out[i].assign(flat.begin() + i * dims, flat.begin() + (i + 1) * dims);
  return out;
}

static double secs(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "run" || argc < 10) {
    std::cerr << "usage: xops_bench_index run DATA.f32 QUERIES.f32 DIMS K M EF_CONSTRUCTION "
                 "THREADS EF_SEARCH...\n";
    return 2;
  }
  int dims = std::stoi(argv[4]);
  size_t k = std::stoul(argv[5]);
  AnnParams p;
  p.m = std::stoi(argv[6]);
  p.ef_construction = std::stoi(argv[7]);
  int threads = std::stoi(argv[8]);
  p.exact_below = 0;  // always a graph
  auto data = read_f32(argv[2], dims), queries = read_f32(argv[3], dims);
  std::vector<uint64_t> ids(data.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  auto t0 = clk::now();
  VectorIndex ix(dims, p);
  ix.add(ids, data, threads);
  double build = secs(t0);
  data.clear();
  data.shrink_to_fit();
  std::vector<std::set<uint64_t>> truth;
  t0 = clk::now();
  for (const auto& q : queries) {
    std::set<uint64_t> s;
    for (const auto& h : ix.search(q, k, {}, true)) s.insert(h.id);
    truth.push_back(std::move(s));
  }
  double exact = secs(t0) / static_cast<double>(queries.size());
  nlohmann::json runs = nlohmann::json::array();
  for (int a = 9; a < argc; ++a) {
    int ef = std::stoi(argv[a]);
    ix.set_ef_search(ef);
    size_t found = 0;
    t0 = clk::now();
    for (size_t i = 0; i < queries.size(); ++i)
      for (const auto& h : ix.search(queries[i], k)) found += truth[i].count(h.id);
    double per = secs(t0) / static_cast<double>(queries.size());
    runs.push_back({{"ef_search", ef},
                    {"query_s", per},
                    {"recall", double(found) / double(queries.size() * k)}});
  }
  std::cout << nlohmann::json{{"n", ids.size()},  {"queries", queries.size()}, {"dims", dims},
                              {"build_s", build}, {"exact_query_s", exact},    {"runs", runs}}
                   .dump()
            << "\n";
}
