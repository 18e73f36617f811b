#pragma once
// SQLite behind RAII: WAL, busy timeout, foreign keys, and schema migrations keyed on
// PRAGMA user_version, applied under BEGIN IMMEDIATE so two processes starting at once
// cannot both migrate.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace xops::db {

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
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
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

class Database {
 public:
  // Opens (creating) the database and applies all migrations.
  static Database open(const std::filesystem::path& path);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  void exec(const std::string& sql);
  Statement prepare(const std::string& sql) { return Statement(db_, sql); }
  int64_t last_insert_id() const;
  int schema_version();
  sqlite3* raw() const { return db_; }

  // BEGIN IMMEDIATE ... COMMIT; rolls back if destroyed uncommitted.
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
  explicit Database(sqlite3* db) : db_(db) {}
  void migrate();
  sqlite3* db_ = nullptr;
};

}  // namespace xops::db
