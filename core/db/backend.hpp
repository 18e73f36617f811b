#pragma once
// What a database backend implements (private to core/db).
#include <string>

#include "core/db/database.hpp"

namespace xops::db {

class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void bind(int idx, int64_t v) = 0;
  virtual void bind(int idx, double v) = 0;
  virtual void bind(int idx, const std::string& v) = 0;
  virtual void bind_null(int idx) = 0;
  virtual bool step() = 0;
  virtual void reset() = 0;
  virtual int64_t int64(int col) const = 0;
  virtual double real(int col) const = 0;
  virtual std::string text(int col) const = 0;
  virtual bool is_null(int col) const = 0;
};

class ConnectionImpl {
 public:
  virtual ~ConnectionImpl() = default;
  virtual Dialect dialect() const = 0;
  virtual std::string describe() const = 0;
  virtual void exec(const std::string& sql) = 0;
  virtual std::unique_ptr<StatementImpl> prepare(const std::string& sql) = 0;
  virtual void begin() = 0;  // a write transaction
  virtual int schema_version() = 0;
  // Applies migrations [from current version, all) under the backend's lock.
  virtual void migrate() = 0;
  virtual void insert_rows(const std::string& table, const std::vector<std::string>& columns,
                           const std::vector<std::vector<Value>>& rows) = 0;
};

std::unique_ptr<ConnectionImpl> open_sqlite(const std::filesystem::path& path);

// libxops_pg.so's entry point (core/pglib), loaded on the first postgresql:// URL.
constexpr int kPostgresAbi = 1;
class PostgresLibrary {
 public:
  virtual ~PostgresLibrary() = default;
  virtual std::unique_ptr<ConnectionImpl> open(const std::string& url) = 0;
};
std::unique_ptr<ConnectionImpl> open_postgres(const std::string& url);

}  // namespace xops::db
