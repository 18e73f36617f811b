#include <catch2/catch.hpp>

#include <cstring>

#include "core/error.hpp"
#include "core/model/model_config.hpp"
#include "core/model/safetensors.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
std::string raw_file(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string s(reinterpret_cast<const char*>(&n), 8);
  return s + header + data;
}
std::string error_of(const std::filesystem::path& p) {
  try {
    SafetensorsFile::open(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "(opened)";
}
}  // namespace

TEST_CASE("safetensors: write then read back, zero-copy, with metadata", "[safetensors]") {
  test::TempDir tmp;
  float a[6] = {1, 2, 3, 4, 5, 6};
  uint16_t b[2] = {0x3f80, 0x4000};  // bf16 1.0, 2.0
  write_safetensors(tmp / "m.safetensors",
                    {{"a", DType::F32, {2, 3}, a, sizeof a}, {"b", DType::BF16, {2}, b, sizeof b}},
                    {{"format", "pt"}});
  auto f = SafetensorsFile::open(tmp / "m.safetensors");
  REQUIRE(f->tensors().size() == 2);
  CHECK(f->metadata().at("format") == "pt");
  const auto& t = f->tensors()[0];
  CHECK(t.name == "a");
  CHECK(t.shape == std::vector<int64_t>{2, 3});
  CHECK(std::memcmp(t.data, a, sizeof a) == 0);
  CHECK(reinterpret_cast<uintptr_t>(t.data) % 8 == 0);  // data section aligned
  CHECK(f->tensors()[1].dtype == DType::BF16);
}

TEST_CASE("safetensors: malformed headers are refused with the reason", "[safetensors]") {
  test::TempDir tmp;
  auto p = tmp / "bad.safetensors";
  atomic_write_file(p, "abc");
  CHECK_THAT(error_of(p), Catch::Contains("shorter than"));
  atomic_write_file(p, raw_file("{}", "").substr(0, 8) + std::string("\xff\xff\xff\xff", 4));
  atomic_write_file(p, std::string("\xff\xff\xff\xff\xff\xff\xff\x00", 8) + "{}");
  CHECK_THAT(error_of(p), Catch::Contains("header length"));
  atomic_write_file(p, raw_file("not json", ""));
  CHECK_THAT(error_of(p), Catch::Contains("not JSON"));
  atomic_write_file(p, raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})",
                                std::string(8, '\0')));
  CHECK_THAT(error_of(p), Catch::Contains("outside"));
  atomic_write_file(p, raw_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                std::string(8, '\0')));
  CHECK_THAT(error_of(p), Catch::Contains("need 12"));
  atomic_write_file(
      p,
      raw_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          std::string(12, '\0')));
  CHECK_THAT(error_of(p), Catch::Contains("overlap"));
  atomic_write_file(p, raw_file(R"({"t":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "x"));
  CHECK_THAT(error_of(p), Catch::Contains("unsupported safetensors dtype"));
  // Numbers too large for an integer arrive as doubles (a fuzz finding: converting one was
  // undefined behaviour), and dimensions whose product overflows.
  atomic_write_file(
      p,
      raw_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,23333333333333333333333333]}})",
               "x"));
  CHECK_THAT(error_of(p), Catch::Contains("is not a non-negative integer"));
  atomic_write_file(p, raw_file(R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})",
                                std::string(8, '\0')));
  CHECK_THAT(error_of(p), Catch::Contains("is not a non-negative integer"));
  atomic_write_file(
      p, raw_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                  std::string(8, '\0')));
  CHECK_THAT(error_of(p), Catch::Contains("more elements than the file has bytes"));
}

TEST_CASE("safetensors: sharded checkpoints open through the index", "[safetensors]") {
  test::TempDir tmp;
  float a[2] = {1, 2}, b[2] = {3, 4};
  write_safetensors(tmp / "model-00001-of-00002.safetensors", {{"x", DType::F32, {2}, a, 8}});
  write_safetensors(tmp / "model-00002-of-00002.safetensors", {{"y", DType::F32, {2}, b, 8}});
  atomic_write_file(
      tmp / "model.safetensors.index.json",
      R"({"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  auto c = Checkpoint::open(tmp.path());
  CHECK(c.names() == std::vector<std::string>{"x", "y"});
  CHECK(static_cast<const float*>(c.get("y").data)[1] == 4);
  CHECK_THROWS_AS(c.get("z"), Error);
}

TEST_CASE("model config: unknown architectures are refused by name", "[model]") {
  try {
    parse_model_config(R"({"architectures":["MistralForCausalLM"],"vocab_size":10})",
                       "config.json");
    FAIL("expected refusal");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("MistralForCausalLM"));
  }
  auto c = parse_model_config(
      read_file(test::shared_dir() / "golden/models/llama-tiny/config.json"), "c");
  CHECK(c.arch == Arch::Llama);
  CHECK(c.n_kv_head == 2);
  CHECK(c.head_dim == 8);
  auto again = parse_model_config(render_model_config(c), "rendered");
  CHECK(again.d_ff == 176);
  CHECK(again.rope_theta == c.rope_theta);
}

#include <nlohmann/json.hpp>

#include "core/store/pointer.hpp"

TEST_CASE("manifest: canonical text escapes names exactly as JSON does", "[track]") {
  std::vector<ManifestEntry> e = {{"b \"q\"\\x\n\t\b\f\x01 é.txt", std::string(64, 'a'), 3, true},
                                  {"a.txt", std::string(64, 'b'), 0, false}};
  auto text = render_manifest(e);
  auto j = nlohmann::json::parse(text);
  CHECK(j["files"][0]["path"] == "a.txt");
  CHECK(j["files"][1]["path"] == e[0].path);
  // Byte for byte what nlohmann::json would write, so ids never depend on the writer.
  CHECK(text.find(nlohmann::json(e[0].path).dump()) != std::string::npos);
  CHECK(parse_manifest(text, "x").size() == 2);
}
