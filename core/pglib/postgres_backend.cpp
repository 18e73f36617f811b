// The PostgreSQL backend (libpq): a team's shared tracking database. Every xops process
// connects directly; there is no server of our own. Statements are sent with their parameters
// out of line (PQexecParams), never spliced into the SQL text. Built into libxops_pg.so only
// (libpq brings krb5 and LDAP: loaded when a postgresql:// URL is opened, not at start-up).
#include <libpq-fe.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/db/backend.hpp"
#include "core/db/migrations.hpp"
#include "core/error.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::db {

namespace {

constexpr Oid kInt8 = 20, kFloat8 = 701, kUnknown = 0;
constexpr int64_t kMigrationLock = 0x786f70735f6462;  // "xops_db": pg_advisory_xact_lock key

std::string first_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// `?` placeholders -> $1, $2, ... (outside quoted literals and identifiers).
std::string number_placeholders(const std::string& sql, int* count) {
  std::string out;
  char quote = 0;
  int n = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += fmt::format("${}", ++n);
    } else {
      out += c;
    }
  }
  *count = n;
  return out;
}

std::string float_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", v);  // shortest text that reads back as the same double
}

struct Result {
  PGresult* r = nullptr;
  explicit Result(PGresult* p = nullptr) : r(p) {}
  ~Result() {
    if (r) PQclear(r);
  }
  Result(Result&& o) noexcept : r(o.r) { o.r = nullptr; }
  Result& operator=(Result&& o) noexcept {
    std::swap(r, o.r);
    return *this;
  }
};

class PgConnection;

class PgStatement final : public StatementImpl {
 public:
  PgStatement(PgConnection& c, const std::string& sql) : c_(c) {
    int n = 0;
    sql_ = number_placeholders(sql, &n);
    values_.resize(static_cast<size_t>(n));
    types_.assign(static_cast<size_t>(n), kUnknown);
  }
  void bind(int idx, int64_t v) override { set(idx, std::to_string(v), kInt8); }
  void bind(int idx, double v) override { set(idx, float_text(v), kFloat8); }
  void bind(int idx, const std::string& v) override { set(idx, v, kUnknown); }
  void bind_null(int idx) override {
    slot(idx) = std::nullopt;
    types_[static_cast<size_t>(idx - 1)] = kUnknown;
  }
  bool step() override;
  void reset() override {
    res_ = Result();
    row_ = -1;
    for (auto& v : values_) v.reset();
    std::fill(types_.begin(), types_.end(), kUnknown);
  }
  int64_t int64(int col) const override {
    const char* v = cell(col);
    return std::strtoll(v, nullptr, 10);
  }
  double real(int col) const override { return std::strtod(cell(col), nullptr); }
  std::string text(int col) const override {
    return std::string(cell(col), static_cast<size_t>(PQgetlength(res_.r, row_, col)));
  }
  bool is_null(int col) const override { return PQgetisnull(res_.r, row_, col) != 0; }

 private:
  std::optional<std::string>& slot(int idx) {
    if (idx < 1 || static_cast<size_t>(idx) > values_.size())
      throw runtime_error(
          fmt::format("database: parameter {} of {} in: {}", idx, values_.size(), sql_));
    return values_[static_cast<size_t>(idx - 1)];
  }
  void set(int idx, std::string v, Oid type) {
    slot(idx) = std::move(v);
    types_[static_cast<size_t>(idx - 1)] = type;
  }
  const char* cell(int col) const { return PQgetvalue(res_.r, row_, col); }

  PgConnection& c_;
  std::string sql_;
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  Result res_;
  int row_ = -1;
};

class PgConnection final : public ConnectionImpl {
 public:
  PgConnection(PGconn* conn, std::string url) : conn_(conn), url_(std::move(url)) {}
  ~PgConnection() override {
    if (conn_) PQfinish(conn_);
  }
  Dialect dialect() const override { return Dialect::Postgres; }
  std::string describe() const override { return Database::redact(url_); }

  [[noreturn]] void fail(const std::string& what, PGresult* r = nullptr) const {
    std::string msg = first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (PQstatus(conn_) != CONNECTION_OK)
      throw runtime_error(fmt::format("tracking database {}: connection lost: {}", describe(), msg),
                          "check that the server is up, then run the command again");
    throw runtime_error(fmt::format("tracking database {}: {}: {}", describe(), what, msg));
  }
  Result check(PGresult* r, const std::string& what) const {
    Result res(r);
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) fail(what, r);
    return res;
  }
  Result run(const std::string& sql, const std::vector<std::optional<std::string>>& values,
             const std::vector<Oid>& types) {
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v ? v->c_str() : nullptr);
    return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), types.data(),
                              ptrs.data(), nullptr, nullptr, 0),
                 "query");
  }

  void exec(const std::string& sql) override { check(PQexec(conn_, sql.c_str()), "exec"); }
  std::unique_ptr<StatementImpl> prepare(const std::string& sql) override {
    return std::make_unique<PgStatement>(*this, sql);
  }
  void begin() override { exec("BEGIN"); }
  int schema_version() override {
    Result r(PQexec(conn_, "SELECT version FROM xops_schema"));
    if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) < 1) return 0;
    return std::atoi(PQgetvalue(r.r, 0, 0));
  }
  void migrate() override {
    const auto& m = migrations();
    if (schema_version() == static_cast<int>(m.size())) return;  // fast path, no lock
    begin();
    try {
      // One client at a time migrates; the others wait here, then find the work done.
      exec(fmt::format("SELECT pg_advisory_xact_lock({})", kMigrationLock));
      exec("CREATE TABLE IF NOT EXISTS xops_schema (version INTEGER NOT NULL)");
      Result r = check(PQexec(conn_, "SELECT version FROM xops_schema"), "read the schema version");
      int v = PQntuples(r.r) ? std::atoi(PQgetvalue(r.r, 0, 0)) : -1;
      if (v < 0) exec("INSERT INTO xops_schema VALUES (0)"), v = 0;
      if (v > static_cast<int>(m.size()))
        throw precondition_error(
            fmt::format(
                "tracking database {} has schema version {}, newer than this xops knows ({})",
                describe(), v, m.size()),
            "upgrade xops");
      for (size_t i = static_cast<size_t>(v); i < m.size(); ++i) {
        if (m[i].local_only) continue;
        exec(postgres_ddl(m[i].sql));
        if (m[i].postgres_extra) exec(m[i].postgres_extra);
      }
      exec(fmt::format("UPDATE xops_schema SET version = {}", m.size()));
      exec("COMMIT");
    } catch (...) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }

  // COPY in PostgreSQL's binary format: no number formatting here, no parsing on the server
  // (1M points: 3.9 s as text, less as binary). Cells must match the column types: int64 for
  // BIGINT, double for DOUBLE PRECISION, string for TEXT.
  void insert_rows(const std::string& table, const std::vector<std::string>& columns,
                   const std::vector<std::vector<Value>>& rows) override {
    std::string cols;
    for (size_t i = 0; i < columns.size(); ++i) cols += (i ? ", " : "") + columns[i];
    check(PQexec(conn_, fmt::format("COPY {}({}) FROM STDIN (FORMAT binary)", table, cols).c_str()),
          "COPY");
    std::string buf("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0",
                    19);  // signature, flags, extension length
    auto be = [&buf](uint64_t v, int bytes) {
      for (int i = bytes - 1; i >= 0; --i) buf += static_cast<char>((v >> (8 * i)) & 0xff);
    };
    auto flush = [&]() {
      if (!buf.empty() && PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1)
        fail("COPY data");
      buf.clear();
    };
    for (const auto& row : rows) {
      be(row.size(), 2);
      for (const auto& cell : row) {
        if (auto* n = std::get_if<int64_t>(&cell)) {
          be(8, 4), be(static_cast<uint64_t>(*n), 8);
        } else if (auto* d = std::get_if<double>(&cell)) {
          uint64_t bits;
          std::memcpy(&bits, d, 8);
          be(8, 4), be(bits, 8);
        } else if (auto* s = std::get_if<std::string>(&cell)) {
          be(s->size(), 4);
          buf += *s;
        } else {
          be(0xffffffffu, 4);  // NULL
        }
      }
      if (buf.size() > (1 << 20)) flush();
    }
    be(0xffff, 2);  // trailer
    flush();
    if (PQputCopyEnd(conn_, nullptr) != 1) fail("COPY end");
    Result end(PQgetResult(conn_));
    if (PQresultStatus(end.r) != PGRES_COMMAND_OK) fail("COPY", end.r);
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  }

 private:
  PGconn* conn_;
  std::string url_;
};

bool PgStatement::step() {
  if (row_ < 0) {
    res_ = c_.run(sql_, values_, types_);
    row_ = 0;
  } else {
    ++row_;
  }
  return row_ < PQntuples(res_.r);
}

std::unique_ptr<ConnectionImpl> connect(const std::string& url) {
  // Later keywords win: the URL's own connect_timeout overrides ours.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* vals[] = {"10", "xops", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, 1);
  if (!conn) throw runtime_error("cannot allocate a PostgreSQL connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = first_line(PQerrorMessage(conn));
    PQfinish(conn);
    bool auth = msg.find("password") != std::string::npos ||
                msg.find("authentication") != std::string::npos;
    throw runtime_error(
        fmt::format("cannot connect to the tracking database {}: {}", Database::redact(url), msg),
        auth ? "the password comes from PGPASSWORD or ~/.pgpass (never from xops.yaml)"
             : "is the server running and reachable? check host, port and database name; "
               "XOPS_TRACKING=local records into the project's own SQLite file meanwhile");
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);  // core never prints
  // Tracking reads text as text: no surprises from a server's own defaults.
  PQclear(PQexec(conn, "SET client_encoding = 'UTF8'"));
  return std::make_unique<PgConnection>(conn, url);
}

class LibpqLibrary final : public PostgresLibrary {
 public:
  std::unique_ptr<ConnectionImpl> open(const std::string& url) override { return connect(url); }
};

}  // namespace

}  // namespace xops::db

XOPS_PLUGIN_EXPORT xops::db::PostgresLibrary* xops_pg_library(int abi) {
  static xops::db::LibpqLibrary lib;
  return abi == xops::db::kPostgresAbi ? &lib : nullptr;
}

XOPS_PLUGIN_PROBE
