#include "core/db/migrations.hpp"

namespace xops::db {

const std::vector<const char*>& migrations() {
  static const std::vector<const char*> m = {
      // 1: stat cache for the content store: unchanged files are never re-hashed.
      R"sql(
CREATE TABLE stat_cache (
  path TEXT PRIMARY KEY,
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  sha256 TEXT NOT NULL
) WITHOUT ROWID;
)sql",
  };
  return m;
}

}  // namespace xops::db
