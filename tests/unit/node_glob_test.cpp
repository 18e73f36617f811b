// core/util/node_glob: the order promptfoo's glob (npm glob 13.0.7) returns. The expected
// lists were recorded from that package over the same tree:
//   NODE_PATH=$PROMPTFOO_PREFIX/node_modules node -e \
//     "console.log(require('glob').globSync('d/**/*.txt', {cwd: '.'}).join(' '))"
// (tests/compat/promptfoo/cases/30-var-expansion checks one case end to end against promptfoo).
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/util/node_glob.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
std::string joined(const std::vector<std::filesystem::path>& ps,
                   const std::filesystem::path& base) {
  std::string out;
  for (const auto& p : ps) out += (out.empty() ? "" : " ") + p.lexically_relative(base).string();
  return out;
}
}  // namespace

TEST_CASE("node_glob: matches in npm glob 13's walk order", "[glob]") {
  test::TempDir tmp;
  auto d = tmp / "d";
  for (const char* f : {"c", "a", "b", "e", "d", "10", "2", "B", "_u"})
    test::write_text(d / (std::string(f) + ".txt"), f);
  test::write_text(d / ".hidden.txt", "h");
  for (const char* f : {"sub/x", "sub/s", "sub/deep/q", "m/m", "Z/y", "Z/deep2/r"})
    test::write_text(d / (std::string(f) + ".txt"), f);
  auto base = tmp.path();
  CHECK(joined(node_glob((d / "*.txt").string()), base) ==
        "d/e.txt d/d.txt d/c.txt d/b.txt d/a.txt d/_u.txt d/B.txt d/2.txt d/10.txt");
  CHECK(joined(node_glob((d / "**/*.txt").string()), base) ==
        "d/e.txt d/d.txt d/c.txt d/b.txt d/a.txt d/_u.txt d/B.txt d/2.txt d/10.txt d/sub/x.txt "
        "d/sub/s.txt d/sub/deep/q.txt d/m/m.txt d/Z/y.txt d/Z/deep2/r.txt");
  CHECK(joined(node_glob((d / "*/*.txt").string()), base) ==
        "d/sub/x.txt d/sub/s.txt d/m/m.txt d/Z/y.txt");
  CHECK(joined(node_glob((d / "[ab].txt").string()), base) == "d/b.txt d/a.txt");
  CHECK(joined(node_glob((d / ".h*").string()), base) == "d/.hidden.txt");  // a dot, explicitly
  CHECK(node_glob((d / "nothing*").string()).empty());
  NodeGlobLimits small;
  small.max_matches = 3;
  CHECK_THROWS_AS(node_glob((d / "*.txt").string(), small), Error);
  small = {};
  small.max_entries = 5;
  CHECK_THROWS_AS(node_glob((d / "**/*.txt").string(), small), Error);
}
