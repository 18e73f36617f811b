#include "core/store/stat_cache.hpp"

#include "core/db/database.hpp"

namespace xops {

static int64_t ns(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

StatCache::Entry StatCache::make(const struct stat& st, const std::string& sha) {
  return {static_cast<int64_t>(st.st_dev), static_cast<int64_t>(st.st_ino),
          static_cast<int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim), sha};
}

StatCache::StatCache(db::Database& db) : db_(db) {}

void StatCache::load() const {
  std::call_once(loaded_, [this] {
    auto q = db_.prepare("SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM stat_cache");
    entries_.reserve(4096);
    while (q.step())
      entries_.emplace(q.text(0), Entry{q.int64(1), q.int64(2), q.int64(3), q.int64(4), q.int64(5), q.text(6)});
  });
}

std::optional<std::string> StatCache::lookup(const std::string& path, const struct stat& st) const {
  load();
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(path);
  if (it == entries_.end()) return std::nullopt;
  auto e = make(st, "");
  const auto& c = it->second;
  if (c.dev != e.dev || c.ino != e.ino || c.size != e.size || c.mtime_ns != e.mtime_ns ||
      c.ctime_ns != e.ctime_ns)
    return std::nullopt;
  return c.sha256;
}

void StatCache::put(const std::string& path, const struct stat& st, const std::string& sha256) {
  load();
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto e = make(st, sha256);
  entries_[path] = e;
  dirty_[path] = e;
}

void StatCache::flush() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (dirty_.empty()) return;
  db::Database::Transaction tx(db_);
  auto ins = db_.prepare(
      "INSERT OR REPLACE INTO stat_cache(path, dev, ino, size, mtime_ns, ctime_ns, sha256) "
      "VALUES (?,?,?,?,?,?,?)");
  for (const auto& [path, e] : dirty_) {
    ins.bind(1, path).bind(2, e.dev).bind(3, e.ino).bind(4, e.size).bind(5, e.mtime_ns);
    ins.bind(6, e.ctime_ns).bind(7, e.sha256);
    ins.step();
    ins.reset();
  }
  tx.commit();
  dirty_.clear();
}

}  // namespace xops
