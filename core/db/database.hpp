#pragma once
// The tracking database behind one small interface, on two backends:
//  - SQLite (a file; the embedded default): WAL, busy timeout, foreign keys, migrations keyed
//    on PRAGMA user_version and applied under BEGIN IMMEDIATE;
//  - PostgreSQL (libpq; `postgresql://user@host:port/db`): migrations under an advisory lock,
//    so many clients upgrading at once apply each one exactly once.
// SQL is written once with `?` placeholders in the subset both speak (ON CONFLICT, RETURNING);
// the few differences ask dialect().
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace xops::db {

enum class Dialect { Sqlite, Postgres };

class StatementImpl;
class ConnectionImpl;

class Statement {
 public:
  explicit Statement(std::unique_ptr<StatementImpl> impl);
  ~Statement();
  Statement(Statement&& o) noexcept;
  Statement(const Statement&) = delete;

  Statement& bind(int idx, int64_t v);
  Statement& bind(int idx, double v);
  Statement& bind(int idx, const std::string& v);
  Statement& bind_null(int idx);
  // Steps once; true while a row is available.
  bool step();
  void reset();  // reset + clear bindings, for reuse in loops
  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

 private:
  std::unique_ptr<StatementImpl> impl_;
};

// One cell of a bulk insert.
using Value = std::variant<std::monostate, int64_t, double, std::string>;

class Database {
 public:
  // Opens (creating) a SQLite file and applies all migrations.
  static Database open(const std::filesystem::path& path);
  // A tracking location: postgresql://… / postgres://… (libpq; the password comes from
  // PGPASSWORD or ~/.pgpass), otherwise a SQLite path. migrate=false only connects.
  static Database open_url(const std::string& url, bool migrate = true);
  // postgresql://, postgres://, or libpq's keyword form (`host=h dbname=d password=p`).
  static bool is_postgres_url(const std::string& url);
  static bool is_libpq_keywords(const std::string& s);
  // The URL with any password removed: what errors and listings show.
  static std::string redact(const std::string& url);

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  Dialect dialect() const;
  std::string describe() const;                    // the path, or the redacted URL
  const std::string& url() const { return url_; }  // as opened (may hold a password): to reconnect
  void exec(const std::string& sql);
  Statement prepare(const std::string& sql);
  int schema_version();
  // Rows into table(columns), inside the caller's transaction: COPY on PostgreSQL, one
  // prepared statement stepped per row on SQLite.
  void insert_rows(const std::string& table, const std::vector<std::string>& columns,
                   const std::vector<std::vector<Value>>& rows);

  // BEGIN (IMMEDIATE on SQLite) ... COMMIT; rolls back if destroyed uncommitted.
  class Transaction {
   public:
    explicit Transaction(Database& db);
    ~Transaction();
    void commit();

   private:
    Database& db_;
    bool done_ = false;
  };

 private:
  Database(std::unique_ptr<ConnectionImpl> c, std::string url);
  void migrate();
  std::unique_ptr<ConnectionImpl> c_;
  std::string url_;
};

}  // namespace xops::db
