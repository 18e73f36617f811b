#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>

#include "core/error.hpp"
#include "core/project/config.hpp"
#include "core/store/s3_config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
// Sets environment variables for one scope and restores them after.
struct EnvScope {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  EnvScope(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [k, v] : vars) {
      const char* old = std::getenv(k);
      saved.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      if (v)
        ::setenv(k, v, 1);
      else
        ::unsetenv(k);
    }
  }
  ~EnvScope() {
    for (auto& [k, v] : saved) {
      if (v)
        ::setenv(k.c_str(), v->c_str(), 1);
      else
        ::unsetenv(k.c_str());
    }
  }
};
}  // namespace

// The two worked examples of Signature Version 4 in Amazon S3's API reference ("Examples:
// Signature Calculations in AWS Signature Version 4"): same key, date and requests.
TEST_CASE("s3: SigV4 signatures match AWS's published examples", "[s3]") {
  S3Settings s;
  s.where = {"examplebucket", ""};
  s.endpoint = "https://examplebucket.s3.amazonaws.com";
  s.access_key = "AKIAIOSFODNN7EXAMPLE";
  s.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto get = sign_s3_request(s, "GET", "test.txt", {}, empty, {{"range", "bytes=0-9"}},
                             "20130524T000000Z");
  CHECK(get.url == "https://examplebucket.s3.amazonaws.com/test.txt");
  CHECK_THAT(get.headers.back(),
             Catch::EndsWith(
                 "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
  CHECK_THAT(get.headers.back(),
             Catch::Contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"));
  auto list = sign_s3_request(s, "GET", "", {{"max-keys", "2"}, {"prefix", "J"}}, empty, {},
                              "20130524T000000Z");
  CHECK(list.url == "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J");
  CHECK_THAT(list.headers.back(),
             Catch::EndsWith(
                 "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
  // Path style puts the bucket in the path; a session token is sent and signed.
  s.path_style = true;
  s.endpoint = "http://127.0.0.1:9000";
  s.session_token = "tok";
  auto put = sign_s3_request(s, "PUT", "p/ab/cd", {{"uploads", ""}}, empty, {}, "20130524T000000Z");
  CHECK(put.url == "http://127.0.0.1:9000/examplebucket/p/ab/cd?uploads=");
  CHECK_THAT(put.headers.back(), Catch::Contains("x-amz-date;x-amz-security-token"));
  CHECK(aws_uri_encode("a b/c~d+é", false) == "a%20b/c~d%2B%C3%A9");
  CHECK(aws_uri_encode("a/b", true) == "a%2Fb");
}

TEST_CASE("s3: URLs, and bad ones refused with what is wrong", "[s3]") {
  CHECK(parse_s3_url("s3://my-bucket").prefix.empty());
  auto l = parse_s3_url("s3://my.bucket-1/team/xops/");
  CHECK(l.bucket == "my.bucket-1");
  CHECK(l.prefix == "team/xops");
  for (const char* bad : {"s3://", "s3://AB", "s3://a_b/x", "s3://-ab", "s3://ab",
                          "s3://abc/x/../y", "s3://abc/x//y", "s3://abc/x\\y", "http://abc/x"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_s3_url(bad), Error);
  }
}

TEST_CASE("s3: credentials, region and endpoint come from the environment, then the profile files",
          "[s3]") {
  test::TempDir tmp;
  test::write_text(
      tmp / "credentials",
      "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s1\n\n"
      "[team]\naws_access_key_id=AKTEAM\naws_secret_access_key=s2\naws_session_token = t2\n");
  test::write_text(tmp / "config",
                   "[default]\nregion = eu-west-1\n[profile team]\nregion = ap-south-1\n"
                   "endpoint_url = http://127.0.0.1:9000/\ns3 =\n  addressing_style = path\n");
  EnvScope env{{"AWS_SHARED_CREDENTIALS_FILE", (tmp / "credentials").c_str()},
               {"AWS_CONFIG_FILE", (tmp / "config").c_str()},
               {"AWS_ACCESS_KEY_ID", nullptr},
               {"AWS_SECRET_ACCESS_KEY", nullptr},
               {"AWS_SESSION_TOKEN", nullptr},
               {"AWS_PROFILE", nullptr},
               {"AWS_REGION", nullptr},
               {"AWS_DEFAULT_REGION", nullptr},
               {"AWS_ENDPOINT_URL", nullptr},
               {"AWS_ENDPOINT_URL_S3", nullptr}};
  RemoteConfig r;
  r.name = "team";
  r.url = "s3://bucket-a/x";
  auto d = resolve_s3_settings(r);
  CHECK(d.access_key == "AKDEFAULT");
  CHECK(d.region == "eu-west-1");
  CHECK(d.endpoint == "https://bucket-a.s3.eu-west-1.amazonaws.com");
  CHECK_FALSE(d.path_style);
  r.profile = "team";
  auto t = resolve_s3_settings(r);
  CHECK(t.access_key == "AKTEAM");
  CHECK(t.session_token == "t2");
  CHECK(t.region == "ap-south-1");
  CHECK(t.endpoint == "http://127.0.0.1:9000");
  CHECK(t.path_style);
  {
    EnvScope e2{{"AWS_ACCESS_KEY_ID", "AKENV"},
                {"AWS_SECRET_ACCESS_KEY", "s3"},
                {"AWS_REGION", "us-west-2"}};
    r.region = "";
    auto e = resolve_s3_settings(r);
    CHECK(e.access_key == "AKENV");
    CHECK(e.region == "us-west-2");
    r.region = "eu-north-1";  // the remote's own setting wins
    CHECK(resolve_s3_settings(r).region == "eu-north-1");
  }
  r.profile = "nobody";
  CHECK_THROWS_WITH(resolve_s3_settings(r), Catch::Contains("no AWS credentials"));
  r.profile = "team";
  r.endpoint_url = "ftp://x";
  CHECK_THROWS_WITH(resolve_s3_settings(r), Catch::Contains("http://"));
  test::write_text(tmp / "credentials", "[default]\nthis line has no equals sign\n");
  r.endpoint_url = "";
  CHECK_THROWS_WITH(resolve_s3_settings(r), Catch::Contains("credentials:2"));
}

TEST_CASE("config: s3 settings only on s3 remotes, and a bad s3 URL at its line", "[s3][config]") {
  std::vector<std::string> w;
  auto ok = parse_project_config(
      "name: p\nremotes:\n  team:\n    url: s3://bucket-a/p\n    endpoint_url: "
      "http://127.0.0.1:9000\n"
      "    region: eu-west-1\n",
      "xops.yaml", &w);
  CHECK(ok.remotes.at(0).endpoint_url == "http://127.0.0.1:9000");
  CHECK_THROWS_WITH(
      parse_project_config("name: p\nremotes:\n  d:\n    url: /mnt/x\n    region: eu-west-1\n",
                           "xops.yaml", &w),
      Catch::Contains("xops.yaml:5") && Catch::Contains("s3://"));
  CHECK_THROWS_WITH(
      parse_project_config("name: p\nremotes:\n  d:\n    url: s3://Bad_Bucket\n", "xops.yaml", &w),
      Catch::Contains("xops.yaml:4") && Catch::Contains("bucket"));
  CHECK_THROWS_WITH(
      parse_project_config("name: p\ntracking: postgresql://u:pw@h/db\n", "xops.yaml", &w),
      Catch::Contains("xops.yaml:2") && Catch::Contains("password"));
  CHECK(
      parse_project_config("name: p\ntracking: postgresql://u@h/db\n", "xops.yaml", &w).tracking ==
      "postgresql://u@h/db");
}
