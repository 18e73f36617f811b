#include "core/db/database.hpp"

#include <cmath>
#include <limits>
#include <string_view>

#include <sqlite3.h>

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
}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr) != SQLITE_OK)
    fail(db, "prepare");
}
Statement::~Statement() {
  if (st_) sqlite3_finalize(st_);
}
Statement::Statement(Statement&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }

Statement& Statement::bind(int idx, int64_t v) {
  sqlite3_bind_int64(st_, idx, v);
  return *this;
}
// SQLite turns a bound NaN into NULL (which a NOT NULL column then refuses: a diverging
// run's NaN loss once failed the final flush and left the run `running`). NaN is stored as
// the text 'NaN' instead and read back as NaN; infinities are stored as REAL as they are.
Statement& Statement::bind(int idx, double v) {
  if (std::isnan(v)) sqlite3_bind_text(st_, idx, "NaN", 3, SQLITE_STATIC);
  else sqlite3_bind_double(st_, idx, v);
  return *this;
}
Statement& Statement::bind(int idx, const std::string& v) {
  sqlite3_bind_text(st_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_null(int idx) {
  sqlite3_bind_null(st_, idx);
  return *this;
}
bool Statement::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "step");
}
void Statement::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}
int64_t Statement::int64(int col) const { return sqlite3_column_int64(st_, col); }
double Statement::real(int col) const {
  if (sqlite3_column_type(st_, col) == SQLITE_TEXT) {
    auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    if (t && std::string_view(t) == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  return sqlite3_column_double(st_, col);
}
std::string Statement::text(int col) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string();
}
bool Statement::is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

Database Database::open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
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
  db.exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  db.migrate();
  return db;
}

Database::Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
Database& Database::operator=(Database&& o) noexcept {
  std::swap(db_, o.db_);
  return *this;
}
Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

void Database::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    throw runtime_error(fmt::format("database: {}", msg));
  }
}

int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }

int Database::schema_version() {
  auto st = prepare("PRAGMA user_version");
  st.step();
  return static_cast<int>(st.int64(0));
}

void Database::migrate() {
  const auto& m = migrations();
  if (schema_version() == static_cast<int>(m.size())) return;  // fast path, no write lock
  Transaction tx(*this);  // BEGIN IMMEDIATE: the second process waits, then sees it done
  int v = schema_version();
  if (v > static_cast<int>(m.size()))
    throw precondition_error(
        fmt::format("the database has schema version {}, newer than this xops knows ({})", v,
                    m.size()),
        "upgrade xops");
  for (size_t i = static_cast<size_t>(v); i < m.size(); ++i) exec(m[i]);
  exec(fmt::format("PRAGMA user_version = {}", m.size()));
  tx.commit();
}

Database::Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Database::Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Database::Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace xops::db
