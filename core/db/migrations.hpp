#pragma once
// The schema, as an append-only list: migration N brings the schema version from N-1 to N.
// Never change what a released entry does; add a new one. The SQL is SQLite's; PostgreSQL
// gets it through postgres_ddl() (types, identity keys) plus the entry's postgres_extra.
#include <string>
#include <vector>

namespace xops::db {

struct Migration {
  const char* sql;
  const char* postgres_extra = nullptr;  // run after sql on PostgreSQL only
  bool local_only = false;               // caches of this machine's files: not in a shared database
};

const std::vector<Migration>& migrations();

// SQLite DDL -> PostgreSQL: INTEGER PRIMARY KEY -> identity BIGINT, INTEGER -> BIGINT,
// REAL -> DOUBLE PRECISION, no WITHOUT ROWID.
std::string postgres_ddl(const std::string& sqlite_ddl);

}  // namespace xops::db
