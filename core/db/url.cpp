// Tracking-database URLs. Its own file: libxops_pg.so uses redact() without the SQLite side.
#include "core/db/database.hpp"

namespace xops::db {

bool Database::is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

std::string Database::redact(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  std::string out = url;
  auto at = out.find('@', scheme + 3);
  auto slash = out.find('/', scheme + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
  }
  // ...?password=secret&sslmode=… as a query parameter
  for (size_t q = out.find("password="); q != std::string::npos; q = out.find("password=", q + 1)) {
    if (q == 0 || (out[q - 1] != '?' && out[q - 1] != '&')) continue;
    auto end = out.find('&', q);
    out.replace(q + 9, (end == std::string::npos ? out.size() : end) - q - 9, "***");
  }
  return out;
}

}  // namespace xops::db
