// The SQLite backend: a file in the project (.xops/xops.db), WAL, one writer at a time.
#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <string_view>

#include "core/db/backend.hpp"
#include "core/db/migrations.hpp"
#include "core/error.hpp"

namespace xops::db {

namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  int code = sqlite3_extended_errcode(db);
  std::string hint;
  if ((code & 0xff) == SQLITE_BUSY)
    hint = "another xops process kept the database busy for too long; retry";
  throw runtime_error(fmt::format("database: {}: {}", what, sqlite3_errmsg(db)), hint);
}

class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr) !=
        SQLITE_OK)
      fail(db, "prepare");
  }
  ~SqliteStatement() override {
    if (st_) sqlite3_finalize(st_);
  }
  void bind(int idx, int64_t v) override { sqlite3_bind_int64(st_, idx, v); }
  // SQLite turns a bound NaN into NULL (which a NOT NULL column then refuses: a diverging
  // run's NaN loss once failed the final flush and left the run `running`). NaN is stored as
  // the text 'NaN' instead and read back as NaN; infinities are stored as REAL as they are.
  void bind(int idx, double v) override {
    if (std::isnan(v))
      sqlite3_bind_text(st_, idx, "NaN", 3, SQLITE_STATIC);
    else
      sqlite3_bind_double(st_, idx, v);
  }
  void bind(int idx, const std::string& v) override {
    sqlite3_bind_text(st_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_null(int idx) override { sqlite3_bind_null(st_, idx); }
  bool step() override {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
  }
  void reset() override {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  int64_t int64(int col) const override { return sqlite3_column_int64(st_, col); }
  double real(int col) const override {
    if (sqlite3_column_type(st_, col) == SQLITE_TEXT) {
      auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
      if (t && std::string_view(t) == "NaN") return std::numeric_limits<double>::quiet_NaN();
    }
    return sqlite3_column_double(st_, col);
  }
  std::string text(int col) const override {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string();
  }
  bool is_null(int col) const override { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

class SqliteConnection final : public ConnectionImpl {
 public:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteConnection() override {
    if (db_) sqlite3_close_v2(db_);
  }
  Dialect dialect() const override { return Dialect::Sqlite; }
  std::string describe() const override { return path_; }
  void exec(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw runtime_error(fmt::format("database: {}", msg));
    }
  }
  std::unique_ptr<StatementImpl> prepare(const std::string& sql) override {
    return std::make_unique<SqliteStatement>(db_, sql);
  }
  void begin() override { exec("BEGIN IMMEDIATE"); }
  int schema_version() override {
    SqliteStatement st(db_, "PRAGMA user_version");
    st.step();
    return static_cast<int>(st.int64(0));
  }
  void migrate() override {
    const auto& m = migrations();
    if (schema_version() == static_cast<int>(m.size())) return;  // fast path, no write lock
    begin();  // BEGIN IMMEDIATE: the second process waits, then sees it done
    try {
      int v = schema_version();
      if (v > static_cast<int>(m.size()))
        throw precondition_error(
            fmt::format("the database has schema version {}, newer than this xops knows ({})", v,
                        m.size()),
            "upgrade xops");
      for (size_t i = static_cast<size_t>(v); i < m.size(); ++i) exec(m[i].sql);
      exec(fmt::format("PRAGMA user_version = {}", m.size()));
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  void insert_rows(const std::string& table, const std::vector<std::string>& columns,
                   const std::vector<std::vector<Value>>& rows) override {
    std::string cols, qs;
    for (size_t i = 0; i < columns.size(); ++i) {
      cols += (i ? ", " : "") + columns[i];
      qs += i ? ",?" : "?";
    }
    SqliteStatement st(db_, fmt::format("INSERT INTO {}({}) VALUES ({})", table, cols, qs));
    for (const auto& row : rows) {
      for (size_t i = 0; i < row.size(); ++i) {
        int idx = static_cast<int>(i + 1);
        if (auto* n = std::get_if<int64_t>(&row[i]))
          st.bind(idx, *n);
        else if (auto* d = std::get_if<double>(&row[i]))
          st.bind(idx, *d);
        else if (auto* s = std::get_if<std::string>(&row[i]))
          st.bind(idx, *s);
        else
          st.bind_null(idx);
      }
      st.step();
      st.reset();
    }
  }

 private:
  sqlite3* db_;
  std::string path_;
};

}  // namespace

std::unique_ptr<ConnectionImpl> open_sqlite(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto conn = std::make_unique<SqliteConnection>(raw, path.string());
  if (rc != SQLITE_OK) fail(raw, "open " + path.string());
  sqlite3_busy_timeout(raw, 10000);
  // Switching a new file to WAL needs a moment of exclusive access and reports SQLITE_BUSY
  // without consulting the busy handler when another process is opening it too: retry.
  for (int attempt = 0;; ++attempt) {
    int rc = sqlite3_exec(raw, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) break;
    if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) fail(raw, "set WAL mode");
    if (attempt >= 400) fail(raw, "set WAL mode");
    sqlite3_sleep(25);
  }
  conn->exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  return conn;
}

}  // namespace xops::db
