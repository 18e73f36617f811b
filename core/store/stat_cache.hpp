#pragma once
// (path, device, inode, size, mtime_ns, ctime_ns) -> sha256, kept in .xops/xops.db, so an
// unchanged file is never hashed twice. Loaded whole at start; updates written in one
// transaction by flush(). lookup() is safe from many threads; put() takes a lock.
#include <sys/stat.h>

#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace xops {

namespace db {
class Database;
}

class StatCache {
 public:
  explicit StatCache(db::Database& db);
  std::optional<std::string> lookup(const std::string& path, const struct stat& st) const;
  void put(const std::string& path, const struct stat& st, const std::string& sha256);
  void flush();

 private:
  struct Entry {
    int64_t dev, ino, size, mtime_ns, ctime_ns;
    std::string sha256;
  };
  static Entry make(const struct stat& st, const std::string& sha);
  void load() const;  // on first use: a status served by directory summaries never needs it
  db::Database& db_;
  mutable std::once_flag loaded_;
  mutable std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, Entry> dirty_;
  mutable std::shared_mutex mu_;
};

}  // namespace xops
