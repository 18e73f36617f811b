#include <catch2/catch.hpp>

#include <sstream>

#include "core/util/suggest.hpp"
#include "term/output.hpp"
#include "term/progress.hpp"
#include "term/table.hpp"

using namespace xops::cli;

TEST_CASE("table: piped output is tab-separated with a header", "[cli]") {
  Output o;
  o.configure({});
  Table t({"NAME", "SIZE"});
  t.add({"a b", "1"});
  t.add({"tab\there", "22"});
  CHECK(t.render(o, false) == "NAME\tSIZE\na b\t1\ntab here\t22\n");
}

TEST_CASE("table: a terminal gets aligned columns, colour only when enabled", "[cli]") {
  Output plain;
  plain.configure({false, false, 0, "never"});
  Table t({"K", "VALUE"});
  t.add({"long-key", "x"});
  t.add({"é", "y"});
  CHECK(t.render(plain, true) == "K         VALUE\nlong-key  x\né         y\n");
  Output color;
  color.configure({false, false, 0, "always"});
  CHECK_THAT(t.render(color, true), Catch::Contains("\033[1mK\033[0m"));
}

TEST_CASE("suggest: close verbs are offered, unrelated words are not", "[cli]") {
  std::vector<std::string> verbs{"init", "track", "finetune", "eval", "promote", "serve"};
  CHECK(xops::closest("trakc", verbs) == "track");
  CHECK(xops::closest("ini", verbs) == "init");
  CHECK(xops::closest("fine", verbs) == "finetune");
  CHECK(xops::closest("banana", verbs).empty());
}

TEST_CASE("progress: rate, counts and ETA in the bar text", "[cli]") {
  Output o;
  o.configure({});
  ProgressBar bar(o, "hashing", 4 * 1024 * 1024, true);
  CHECK_FALSE(bar.enabled());  // stderr is not a terminal under ctest
  auto text = bar.render(1024 * 1024, 2.0, 100);
  CHECK_THAT(text, Catch::StartsWith("hashing ["));
  CHECK_THAT(text, Catch::Contains("1.0 MiB/4.0 MiB"));
  CHECK_THAT(text, Catch::Contains("512.0 KiB/s"));
  CHECK_THAT(text, Catch::Contains("ETA 6s"));
  CHECK(human_duration(3725) == "1h02m");
}

TEST_CASE("tables fit the terminal: the widest columns give way with an ellipsis", "[cli]") {
  Output plain;
  plain.configure({false, false, 0, "never"});
  Table t({"ID", "COMMAND"});
  t.add({"01J9", std::string(100, 'x')});
  t.add({"01JA", "short"});
  auto s = t.render(plain, true, 40);
  std::istringstream lines(s);
  for (std::string line; std::getline(lines, line);) CHECK(display_width(line) <= 40);
  CHECK_THAT(s, Catch::Contains("\u2026"));
  CHECK_THAT(s, Catch::Contains("short"));
  CHECK(t.render(plain, false).find(std::string(100, 'x')) != std::string::npos);  // piped: never cut
}
