#include "core/db/database.hpp"

#include "core/db/backend.hpp"
#include "core/error.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::db {

Statement::Statement(std::unique_ptr<StatementImpl> impl) : impl_(std::move(impl)) {}
Statement::~Statement() = default;
Statement::Statement(Statement&& o) noexcept = default;
Statement& Statement::bind(int idx, int64_t v) {
  impl_->bind(idx, v);
  return *this;
}
Statement& Statement::bind(int idx, double v) {
  impl_->bind(idx, v);
  return *this;
}
Statement& Statement::bind(int idx, const std::string& v) {
  impl_->bind(idx, v);
  return *this;
}
Statement& Statement::bind_null(int idx) {
  impl_->bind_null(idx);
  return *this;
}
bool Statement::step() {
  return impl_->step();
}
void Statement::reset() {
  impl_->reset();
}
int64_t Statement::int64(int col) const {
  return impl_->int64(col);
}
double Statement::real(int col) const {
  return impl_->real(col);
}
std::string Statement::text(int col) const {
  return impl_->text(col);
}
bool Statement::is_null(int col) const {
  return impl_->is_null(col);
}

std::unique_ptr<ConnectionImpl> open_postgres(const std::string& url) {
  return require_plugin<PostgresLibrary>("libxops_pg.so", "XOPS_PG_LIB", "xops_pg_library",
                                         kPostgresAbi, "PostgreSQL client")
      .open(url);
}

Database::Database(std::unique_ptr<ConnectionImpl> c, std::string url)
    : c_(std::move(c)), url_(std::move(url)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Database Database::open(const std::filesystem::path& path) {
  Database db(open_sqlite(path), path.string());
  db.migrate();
  return db;
}

Database Database::open_url(const std::string& url, bool migrate) {
  if (url.empty()) throw usage_error("empty tracking database URL");
  Database db(is_postgres_url(url) ? open_postgres(url) : open_sqlite(url), url);
  if (migrate) db.migrate();
  return db;
}

Dialect Database::dialect() const {
  return c_->dialect();
}
std::string Database::describe() const {
  return c_->describe();
}
void Database::exec(const std::string& sql) {
  c_->exec(sql);
}
Statement Database::prepare(const std::string& sql) {
  return Statement(c_->prepare(sql));
}
int Database::schema_version() {
  return c_->schema_version();
}
void Database::migrate() {
  c_->migrate();
}
void Database::insert_rows(const std::string& table, const std::vector<std::string>& columns,
                           const std::vector<std::vector<Value>>& rows) {
  if (!rows.empty()) c_->insert_rows(table, columns, rows);
}

Database::Transaction::Transaction(Database& db) : db_(db) {
  db_.c_->begin();
}
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
