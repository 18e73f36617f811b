#include "core/pipeline/run_cache.hpp"

#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"

namespace xops::pipeline {

namespace fs = std::filesystem;

std::optional<std::vector<LockedPath>> run_cache_get(const fs::path& dir, const std::string& key) {
  auto file = dir / key.substr(0, 2) / (key.substr(2) + ".json");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  try {
    auto j = J::parse(read_file_limited(file, 1u << 20, "a run-cache entry"));
    std::vector<LockedPath> outs;
    for (const auto& o : j.at("outs")) {
      LockedPath p;
      p.path = o.at("path").get<std::string>();
      p.hash = o.at("sha256").get<std::string>();
      p.size = o.at("size").get<uint64_t>();
      p.nfiles = o.value("nfiles", uint64_t{0});
      if (!is_sha256_hex(p.object())) return std::nullopt;
      outs.push_back(std::move(p));
    }
    return outs;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged entry is a miss: the stage runs
  }
}

void run_cache_put(const fs::path& dir, const std::string& key, const std::string& stage,
                   const std::vector<LockedPath>& outs) {
  J j = J::object();
  j["stage"] = stage;
  J arr = J::array();
  for (const auto& o : outs)
    arr.push_back({{"path", o.path}, {"sha256", o.hash}, {"size", o.size}, {"nfiles", o.nfiles}});
  j["outs"] = arr;
  auto sub = dir / key.substr(0, 2);
  fs::create_directories(sub);
  atomic_write_file(sub / (key.substr(2) + ".json"), j.dump(1) + "\n");
}

}  // namespace xops::pipeline
