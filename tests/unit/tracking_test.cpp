#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "core/db/migrations.hpp"
#include "core/error.hpp"
#include "core/tracking/filter.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/ulid.hpp"
#include "tests/support/services.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
// Runs fn(i) in n forked processes at once; each must return normally (exit 0).
void in_processes(int n, const std::function<void(int)>& fn) {
  std::vector<pid_t> kids;
  for (int p = 0; p < n; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      try {
        fn(p);
        _exit(0);
      } catch (const std::exception& e) {
        fprintf(stderr, "process %d: %s\n", p, e.what());
        _exit(1);
      }
    }
    kids.push_back(pid);
  }
  for (auto k : kids) {
    int st = 0;
    waitpid(k, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
}
}  // namespace

// Each test below runs once per tracking backend: a SQLite file and a PostgreSQL database.
#define ON_EACH_BACKEND(url)                                        \
  auto backend = GENERATE(as<std::string>{}, "sqlite", "postgres"); \
  INFO("backend: " << backend);                                     \
  test::TempDir tmp;                                                \
  auto url = test::tracking_url(backend, tmp);                      \
  if (url.empty()) return;                                          \
  auto open_tracker = [&] { return Tracker(db::Database::open_url(url)); }

TEST_CASE("ulid: 26 Crockford chars, sortable by time, unique", "[tracking]") {
  auto a = ulid_at(1000, 0, 0), b = ulid_at(1001, 0, 0);
  CHECK(a.size() == 26);
  CHECK(a < b);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(new_ulid());
  CHECK(ids.size() == 1000);
}

TEST_CASE("tracker: a run with params, metrics, tags, artifacts and prefix lookup", "[tracking]") {
  ON_EACH_BACKEND(url);
  auto t = open_tracker();
  RunStart s;
  s.name = "train";
  s.params = {{"lr", "0.001"}};
  auto id = t.start_run(s, nullptr);
  t.log_metrics(id, {{"loss", 1.0, 1, 0}, {"loss", 0.5, 2, 0}, {"loss", 0.25, 3, 0}});
  t.log_tags(id, {{"team", "nlp"}});
  t.log_artifact(id, "model", std::string(64, 'a'), 10, "models/m");
  t.finish_run(id, "finished", 0);
  CHECK(t.resolve(id.substr(0, 20)) == id);
  CHECK(t.resolve("train") == id);
  auto r = t.get(id);
  CHECK(r.status == "finished");
  CHECK(r.params.at("lr") == "0.001");
  REQUIRE(r.metrics.size() == 1);
  CHECK(r.metrics[0].last == 0.25);
  CHECK(r.metrics[0].max == 1.0);
  CHECK(r.metrics[0].count == 3);
  CHECK(t.series(id, "loss").size() == 3);
  CHECK(r.artifacts.at(0).name == "model");
  CHECK_THROWS_AS(t.resolve("ZZZZ"), Error);
}

TEST_CASE("tracker: filters, sorting and their errors", "[tracking]") {
  ON_EACH_BACKEND(url);
  auto t = open_tracker();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    RunStart s;
    s.name = "r" + std::to_string(i);
    s.params = {{"lr", i % 2 ? "0.001" : "0.01"}};
    s.tags = {{"team", i < 2 ? "nlp-core" : "vision"}};
    auto id = t.start_run(s, nullptr);
    t.log_metrics(id, {{"loss", 1.0 - i * 0.2, 1, 0}});
    t.finish_run(id, i == 3 ? "failed" : "finished", i == 3 ? 1 : 0);
    ids.push_back(id);
  }
  auto names = [&](const RunQuery& q) {
    std::vector<std::string> n;
    for (const auto& r : t.list(q)) n.push_back(r.name);
    return n;
  };
  CHECK(names({"metrics.loss < 0.9 and params.lr = '0.001' and status = 'finished'", "", 0}) ==
        std::vector<std::string>{"r1"});
  CHECK(names({"tags.team like 'nlp%'", "name", 0}) == std::vector<std::string>{"r0", "r1"});
  CHECK(names({"tags.team like 'NLP%'", "", 0}).empty());  // LIKE is case-sensitive
  CHECK(names({"tags.team ilike 'NLP%'", "name", 0}).size() == 2);
  CHECK(names({"status = 'failed' or (metrics.loss >= 1 and name != 'x')", "-name", 0}) ==
        std::vector<std::string>{"r3", "r0"});
  CHECK(names({"params.lr in ('0.01')", "metrics.loss desc", 0}) == std::vector<std::string>{"r0", "r2"});
  CHECK(names({"", "metrics.loss", 2}) == std::vector<std::string>{"r3", "r2"});
  for (const char* bad : {"metrics.loss <", "metrics.loss ~ 1", "bogus.x = 1", "status = finished", "(status = 'x'",
                          "name = 'a' and"}) {
    INFO(bad);
    try {
      t.list({bad, "", 0});
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      CHECK_THAT(std::string(e.what()), Catch::Contains("column"));
    }
  }
}

TEST_CASE("tracker: 8 processes logging 2,000 points each at once lose nothing", "[tracking]") {
  ON_EACH_BACKEND(url);
  std::string id;
  {
    auto t = open_tracker();
    id = t.start_run({}, nullptr);
  }
  in_processes(8, [&](int p) {
    auto t = open_tracker();  // each process opens (and may race to migrate) on its own
    for (int batch = 0; batch < 100; ++batch) {
      std::vector<MetricPoint> pts;
      for (int i = 0; i < 20; ++i)
        pts.push_back({"p" + std::to_string(p), double(i), batch * 20 + i, 0});
      t.log_metrics(id, pts);
    }
  });
  auto t = open_tracker();
  auto st = t.db().prepare("SELECT COUNT(*) FROM metrics");
  st.step();
  CHECK(st.int64(0) == 16000);
}

TEST_CASE("database: migrations are safe when processes open a new database at once",
          "[tracking]") {
  ON_EACH_BACKEND(url);
  in_processes(6, [&](int) {
    auto t = open_tracker();
    t.start_run({}, nullptr);
  });
  auto t = open_tracker();
  CHECK(t.list({}).size() == 6);
  CHECK(t.db().schema_version() == static_cast<int>(db::migrations().size()));
}

TEST_CASE("tracker: NaN, numbers in params, durations and patterns read the same on both backends",
          "[tracking]") {
  ON_EACH_BACKEND(url);
  auto t = open_tracker();
  RunStart a;
  a.name = "a";
  a.params = {{"lr", "0.5"}, {"opt", "adam"}, {"path", "C:\\data_x"}};
  auto ida = t.start_run(a, nullptr);
  t.log_metrics(ida, {{"loss", std::nan(""), 1, 0}, {"acc", 0.75, 1, 0}, {"acc", 0.5, 1, 0}});
  t.finish_run(ida, "failed", 3);
  RunStart b;
  b.name = "b";
  b.params = {{"lr", "2"}, {"opt", "3"}};
  auto idb = t.start_run(b, nullptr);
  t.log_metrics(idb, {{"loss", 0.25, 1, 0},
                      {"big", 1e300, 1, 0},
                      {"neg", -std::numeric_limits<double>::infinity(), 2, 0}});
  auto names = [&](const std::string& f) {
    std::vector<std::string> n;
    for (const auto& r : t.list({f, "name", 0})) n.push_back(r.name);
    return n;
  };
  auto ra = t.get(ida);
  REQUIRE(ra.metrics.size() == 2);
  CHECK(std::isnan(ra.metrics[1].last));          // loss: NaN kept, not NULL or an error
  CHECK(ra.metrics[0].last == 0.5);               // acc: the later point of the same step
  CHECK(t.get(idb).metrics[0].last == 1e300);     // big
  CHECK(std::isinf(t.get(idb).metrics[2].last));  // neg
  CHECK(names("params.lr > 1") == std::vector<std::string>{"b"});
  CHECK(names("params.opt < 1") == std::vector<std::string>{"a"});  // 'adam' reads as 0
  CHECK(names("params.lr in (0.5, 2)") == std::vector<std::string>{"a", "b"});
  CHECK(names("exit_code = 3") == std::vector<std::string>{"a"});
  CHECK(names("exit_code > 2.5") == std::vector<std::string>{"a"});
  CHECK(names("duration >= 0 and end_time is null") == std::vector<std::string>{"b"});
  CHECK(names("params.path like 'C:\\\\data%'") ==
        std::vector<std::string>{"a"});  // a backslash is literal
  CHECK(names("params.path like 'C:%data!_x'").empty());
  CHECK(names("user = '" + t.get(ida).user + "' and name like '_'") ==
        std::vector<std::string>{"a", "b"});
  CHECK(names("metrics.loss < 1") == std::vector<std::string>{"b"});  // NaN is not below 1
  CHECK(t.list({"", "-metrics.loss", 0}).size() == 2);
  t.rename(idb, "b2");
  CHECK(t.resolve("b2") == idb);
  t.remove(idb);
  CHECK(t.list({}).size() == 1);
}

TEST_CASE("database: a PostgreSQL server that is down or refuses the password is a clear error",
          "[tracking]") {
  auto cluster = test::pg_cluster_url();
  if (cluster.empty()) return;
  // The password is wrong: the message names the URL (never a password) and where it comes from.
  auto with_password = "postgresql://xops:s3cret-in-url@" + cluster.substr(cluster.find('@') + 1);
  ::setenv("PGPASSWORD", "wrong", 1);
  for (const auto& url : {cluster, with_password}) {
    try {
      db::Database::open_url(url);
      FAIL("connected");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Runtime);
      CHECK_THAT(std::string(e.what()), Catch::Contains("xops@127.0.0.1"));
      CHECK_THAT(std::string(e.what()), !Catch::Contains("s3cret"));
      CHECK_THAT(e.hint(), Catch::Contains("PGPASSWORD"));
    }
  }
  test::pg_cluster_url();  // the right password again
  // Nothing listens on this port.
  try {
    db::Database::open_url("postgresql://xops@127.0.0.1:1/db?connect_timeout=2");
    FAIL("connected");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Runtime);
    CHECK_THAT(std::string(e.what()), Catch::Contains("127.0.0.1:1/db"));
    CHECK_THAT(e.hint(), Catch::Contains("server running"));
  }
  CHECK(db::Database::redact("postgresql://u:pw@h:5/d?password=x&sslmode=require") ==
        "postgresql://u@h:5/d?password=***&sslmode=require");
  CHECK(db::Database::redact("/tmp/a:b@c.db") == "/tmp/a:b@c.db");
}
