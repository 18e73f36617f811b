// The registry's grammar (gto's tag names, SemVer 2) and its replay of tag history.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/plugins/git.hpp"
#include "core/refs/registry.hpp"
#include "core/refs/tag_name.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::registry;

TEST_CASE("registry: gto tag names parse and format both ways", "[unit][registry]") {
  struct Case {
    const char* tag;
    Action action;
    const char* artifact;
    const char* value;
    int counter;
  };
  for (auto c : {Case{"model@v1.2.3", Action::Register, "model", "v1.2.3", 0},
                 Case{"model@v1.2.3!#4", Action::Deregister, "model", "v1.2.3", 4},
                 Case{"model#prod#3", Action::Assign, "model", "prod", 3},
                 Case{"model#prod", Action::Assign, "model", "prod", 0},
                 Case{"model#prod!#5", Action::Unassign, "model", "prod", 5},
                 Case{"model@deprecated#6", Action::Deprecate, "model", "", 6},
                 Case{"nlp/intent-clf@v0.1.0-rc.1+build.5", Action::Register, "nlp/intent-clf",
                      "v0.1.0-rc.1+build.5", 0}}) {
    INFO(c.tag);
    auto t = parse_tag_name(c.tag);
    REQUIRE(t);
    CHECK(t->action == c.action);
    CHECK(t->artifact == c.artifact);
    CHECK((c.action == Action::Assign || c.action == Action::Unassign ? t->stage : t->version) ==
          c.value);
    CHECK(t->counter == c.counter);
    CHECK(format_tag_name(*t) == c.tag);
  }
}

// The oracle is gto's own grammar (tests/compat/gto/record.py rebuilds gto's tag_re from
// gto/constants.py and records its verdict for every name in tags.txt), never our parser.
TEST_CASE("registry: every tag name is read as gto reads it", "[unit][registry]") {
  auto expected = nlohmann::json::parse(
      test::read_text(std::string(XOPS_SOURCE_DIR) + "/tests/compat/gto/expected.json"));
  REQUIRE(expected.size() >= 40);
  for (auto& [tag, want] : expected.items()) {
    INFO(tag);
    auto t = parse_tag_name(tag);
    REQUIRE(t.has_value() == !want.is_null());
    if (!t) continue;
    CHECK(action_name(t->action) == want["action"].get<std::string>());
    CHECK(t->artifact == want["artifact"].get<std::string>());
    CHECK(t->version == want["version"].get<std::string>());
    CHECK(t->stage == want["stage"].get<std::string>());
    CHECK(t->counter == want["counter"].get<int>());
  }
}

TEST_CASE("registry: SemVer 2 precedence", "[unit][registry]") {
  auto lt = [](const char* a, const char* b) {
    return compare(*parse_semver(a), *parse_semver(b)) < 0;
  };
  CHECK(lt("v1.0.0-alpha", "v1.0.0-alpha.1"));
  CHECK(lt("v1.0.0-alpha.1", "v1.0.0-alpha.beta"));
  CHECK(lt("v1.0.0-beta.2", "v1.0.0-beta.11"));
  CHECK(lt("v1.0.0-rc.1", "v1.0.0"));
  CHECK(lt("v1.9.0", "v1.10.0"));
  CHECK(compare(*parse_semver("v1.0.0+a"), *parse_semver("v1.0.0+b")) == 0);
  CHECK(parse_semver("v2.0.0-rc.1")->str() == "v2.0.0-rc.1");
}

TEST_CASE("registry: refs", "[unit][registry]") {
  CHECK(parse_ref("m@v1.0.0")->kind == Ref::Version);
  CHECK(parse_ref("m@latest")->kind == Ref::Latest);
  CHECK(parse_ref("m#prod")->kind == Ref::Stage);
  CHECK_FALSE(parse_ref("models/m"));
  CHECK_FALSE(parse_ref("m@prod"));
  CHECK_FALSE(parse_ref("m@v1#prod"));
}

TEST_CASE("registry: a tag is never moved - the second of two racing writers gets false",
          "[unit][registry]") {
  test::TempDir tmp;
  auto repo = git::Repo::init(tmp.path());
  test::write_text(tmp / "f", "x");
  repo.add({"f"});
  auto c = repo.commit_index("one");
  CHECK(repo.create_tag("m#prod#1", c, "first"));
  CHECK_FALSE(repo.create_tag("m#prod#1", c, "second"));
  auto tags = repo.tags();
  REQUIRE(tags.size() == 1);
  CHECK(tags[0].annotated);
  CHECK(tags[0].target == c);
  CHECK(tags[0].message.rfind("first", 0) == 0);
  auto reg = Registry::from_tags(tags);
  REQUIRE(reg.find("m"));
  CHECK(reg.find("m")->stages.at("prod").version == c.substr(0, 7));  // an unregistered commit
}

namespace {
git::TagInfo tag(const std::string& name, const std::string& commit, int64_t time) {
  git::TagInfo t;
  t.name = name;
  t.target = commit;
  t.annotated = true;
  t.time = time;
  return t;
}
}  // namespace

TEST_CASE("registry: NAME#STAGE~N is the N-th version that held the stage before the holder",
          "[unit][registry]") {
  CHECK(parse_ref("m#prod~1")->back == 1);
  CHECK(parse_ref("m#prod~1")->value == "prod");
  CHECK(parse_ref("m#prod~2")->str() == "m#prod~2");
  CHECK(parse_ref("m#prod")->back == 0);
  CHECK_FALSE(parse_ref("m#prod~"));
  CHECK_FALSE(parse_ref("m#prod~x"));
  CHECK_FALSE(parse_ref("m#prod~-1"));
  CHECK_FALSE(parse_ref("m@v1.0.0~1"));
  // v1 -> prod, v2 -> prod, back to v1 (a rollback), then v3: before v3 came v1, before it v2.
  std::vector<git::TagInfo> tags = {tag("m@v1.0.0", "c1", 1), tag("m@v2.0.0", "c2", 2),
                                    tag("m@v3.0.0", "c3", 3), tag("m#prod#1", "c1", 4),
                                    tag("m#prod#2", "c2", 5), tag("m#prod#3", "c1", 6),
                                    tag("m#prod#4", "c3", 7), tag("m#staging#5", "c3", 8)};
  auto reg = Registry::from_tags(tags);
  CHECK(resolve(reg, *parse_ref("m#prod")).version == "v3.0.0");
  CHECK(resolve(reg, *parse_ref("m#prod~1")).version == "v1.0.0");
  CHECK(resolve(reg, *parse_ref("m#prod~2")).version == "v2.0.0");
  CHECK_THROWS_WITH(resolve(reg, *parse_ref("m#prod~3")),
                    Catch::Contains("fewer than 3 version(s) in stage 'prod' before v3.0.0"));
  CHECK_THROWS_WITH(resolve(reg, *parse_ref("m#staging~1")), Catch::Contains("fewer than 1"));
  // Unassigning the holder: the stage falls back to v1, and before v1 came v2.
  tags.push_back(tag("m#prod!#6", "c3", 9));
  reg = Registry::from_tags(tags);
  CHECK(resolve(reg, *parse_ref("m#prod")).version == "v1.0.0");
  CHECK(resolve(reg, *parse_ref("m#prod~1")).version == "v2.0.0");
}
