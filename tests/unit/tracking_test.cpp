#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "core/error.hpp"
#include "core/db/migrations.hpp"
#include "core/tracking/filter.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/ulid.hpp"
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
      } catch (...) {
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

TEST_CASE("ulid: 26 Crockford chars, sortable by time, unique", "[tracking]") {
  auto a = ulid_at(1000, 0, 0), b = ulid_at(1001, 0, 0);
  CHECK(a.size() == 26);
  CHECK(a < b);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(new_ulid());
  CHECK(ids.size() == 1000);
}

TEST_CASE("tracker: a run with params, metrics, tags, artifacts and prefix lookup", "[tracking]") {
  test::TempDir tmp;
  Tracker t(tmp / "x.db");
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
  test::TempDir tmp;
  Tracker t(tmp / "x.db");
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
  test::TempDir tmp;
  std::string id;
  {
    Tracker t(tmp / "x.db");
    id = t.start_run({}, nullptr);
  }
  in_processes(8, [&](int p) {
    Tracker t(tmp / "x.db");  // each process opens (and may race to migrate) on its own
    for (int batch = 0; batch < 100; ++batch) {
      std::vector<MetricPoint> pts;
      for (int i = 0; i < 20; ++i) pts.push_back({"p" + std::to_string(p), double(i), batch * 20 + i, 0});
      t.log_metrics(id, pts);
    }
  });
  Tracker t(tmp / "x.db");
  auto st = t.db().prepare("SELECT COUNT(*) FROM metrics");
  st.step();
  CHECK(st.int64(0) == 16000);
}

TEST_CASE("database: migrations are safe when processes open a new file at once", "[tracking]") {
  test::TempDir tmp;
  in_processes(6, [&](int) {
    Tracker t(tmp / "fresh.db");
    t.start_run({}, nullptr);
  });
  Tracker t(tmp / "fresh.db");
  CHECK(t.list({}).size() == 6);
  CHECK(t.db().schema_version() == static_cast<int>(db::migrations().size()));
}
