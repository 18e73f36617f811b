// Tracking-database URLs. Its own file: libxops_pg.so uses redact() without the SQLite side.
#include "core/db/database.hpp"

#include <cctype>

namespace xops::db {

namespace {

// libpq's connection keywords (the ones a tracking connection would name).
bool libpq_keyword(const std::string& k) {
  static const char* known[] = {"host",
                                "hostaddr",
                                "port",
                                "dbname",
                                "user",
                                "password",
                                "passfile",
                                "sslmode",
                                "sslcert",
                                "sslkey",
                                "sslrootcert",
                                "connect_timeout",
                                "application_name",
                                "options",
                                "service",
                                "target_session_attrs",
                                "channel_binding",
                                "gssencmode",
                                "sslpassword",
                                "keepalives",
                                "requiressl"};
  for (const char* x : known)
    if (k == x) return true;
  return false;
}

}  // namespace

// libpq's keyword/value form: `host=db port=5432 dbname=x`, values bare or 'quoted'.
bool Database::is_libpq_keywords(const std::string& s) {
  size_t i = 0, pairs = 0;
  auto space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  space();
  while (i < s.size()) {
    size_t k = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    std::string key = s.substr(k, i - k);
    space();
    if (i >= s.size() || s[i] != '=' || !libpq_keyword(key)) return false;
    ++i;
    space();
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i)
        if (s[i] == '\\') ++i;
      if (i >= s.size()) return false;
      ++i;
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    }
    ++pairs;
    space();
  }
  return pairs > 0;
}

bool Database::is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
         is_libpq_keywords(url);
}

std::string Database::redact(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    if (!is_libpq_keywords(url)) return url;
    // password=VALUE (bare or quoted) in the keyword form
    std::string out = url;
    for (size_t q = out.find("password"); q != std::string::npos; q = out.find("password", q + 1)) {
      if (q > 0 && !std::isspace(static_cast<unsigned char>(out[q - 1]))) continue;
      auto eq = out.find_first_not_of(" \t", q + 8);
      if (eq == std::string::npos || out[eq] != '=') continue;
      auto v = out.find_first_not_of(" \t", eq + 1);
      if (v == std::string::npos) break;
      size_t end = v;
      if (out[v] == '\'') {
        for (++end; end < out.size() && out[end] != '\''; ++end)
          if (out[end] == '\\') ++end;
        end = std::min(out.size(), end + 1);
      } else {
        while (end < out.size() && !std::isspace(static_cast<unsigned char>(out[end]))) ++end;
      }
      out.replace(v, end - v, "***");
    }
    return out;
  }
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
