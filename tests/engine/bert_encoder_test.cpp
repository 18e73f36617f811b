// The BERT encoder against an independent numpy forward of the same random weights
// (tests/compat/bert/make_fixture.py): mean pooling + normalisation as modules.json says,
// CLS pooling, truncation to sentence_bert_config's max_seq_length, batching with padding.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/engine/text_encoder.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using nlohmann::json;

namespace {
const std::filesystem::path kFixture =
    std::filesystem::path(XOPS_SOURCE_DIR) / "tests/fixtures/bert-tiny";
const std::filesystem::path kCompat = std::filesystem::path(XOPS_SOURCE_DIR) / "tests/compat/bert";

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

void copy_fixture(const std::filesystem::path& to) {
  std::filesystem::copy(kFixture, to, std::filesystem::copy_options::recursive);
}
}  // namespace

TEST_CASE("BERT embeddings equal the numpy forward within 1e-5, batched with padding", "[bert]") {
  auto expected = json::parse(read_file(kCompat / "embeddings_expected.json"));
  LoadOptions o;
  o.device = "cpu";
  auto enc = open_text_encoder(kFixture, o);
  CHECK(enc->dims() == 32);
  CHECK(enc->max_tokens() == 24);
  CHECK(enc->describe() == "BertModel 2x32, mean pooling, normalised, 24 tokens");
  std::vector<std::string> texts;
  for (const auto& c : expected) texts.push_back(c["text"]);
  auto got = enc->embed(texts);  // one call: sequences of many lengths padded together
  REQUIRE(got.size() == texts.size());
  bool truncated_seen = false;
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO(texts[i]);
    CHECK(max_abs_diff(got[i], expected[i]["mean_normalized"].get<std::vector<double>>()) < 1e-5);
    truncated_seen |= expected[i]["ids"].size() == 24;
  }
  CHECK(truncated_seen);
  // Alone equals batched.
  auto alone = enc->embed({texts[1]});
  CHECK(max_abs_diff(alone[0], expected[1]["mean_normalized"].get<std::vector<double>>()) < 1e-5);
}

TEST_CASE("BERT pooling follows 1_Pooling and modules.json", "[bert]") {
  auto expected = json::parse(read_file(kCompat / "embeddings_expected.json"));
  test::TempDir d;
  auto dir = d / "enc";
  copy_fixture(dir);
  test::write_text(dir / "1_Pooling/config.json",
                   R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  test::write_text(
      dir / "modules.json",
      R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                       {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}])");
  LoadOptions o;
  o.device = "cpu";
  auto enc = open_text_encoder(dir, o);
  auto got = enc->embed({expected[0]["text"], expected[4]["text"]});
  CHECK(max_abs_diff(got[0], expected[0]["cls"].get<std::vector<double>>()) < 1e-5);
  CHECK(max_abs_diff(got[1], expected[4]["cls"].get<std::vector<double>>()) < 1e-5);

  // Mean pooling without Normalize: the raw mean.
  test::write_text(dir / "1_Pooling/config.json",
                   R"({"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true})");
  auto mean = open_text_encoder(dir, o)->embed({expected[2]["text"]});
  CHECK(max_abs_diff(mean[0], expected[2]["mean"].get<std::vector<double>>()) < 1e-5);
}

TEST_CASE("an encoder xops cannot run exactly is refused by name", "[bert]") {
  test::TempDir d;
  auto dir = d / "enc";
  copy_fixture(dir);
  LoadOptions o;
  o.device = "cpu";
  auto refused = [&](const std::string& needle) {
    try {
      open_text_encoder(dir, o);
      FAIL("loaded");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  auto modules = read_file(dir / "modules.json");
  test::write_text(dir / "modules.json", R"([{"type":"sentence_transformers.models.Transformer"},
    {"type":"sentence_transformers.models.Pooling","path":"1_Pooling"},{"type":"sentence_transformers.models.Dense"}])");
  refused("module 2 (sentence_transformers.models.Dense) is not supported");
  test::write_text(dir / "modules.json", modules);
  test::write_text(dir / "1_Pooling/config.json", R"({"pooling_mode_max_tokens": true})");
  refused("pooling must be exactly one of mean or CLS");
  std::filesystem::copy_file(kFixture / "1_Pooling/config.json", dir / "1_Pooling/config.json",
                             std::filesystem::copy_options::overwrite_existing);
  auto cfg = json::parse(read_file(dir / "config.json"));
  cfg["hidden_act"] = "silu";
  test::write_text(dir / "config.json", cfg.dump());
  refused("hidden_act 'silu' is not supported");
  cfg["hidden_act"] = "gelu";
  cfg["num_hidden_layers"] = 3;  // the checkpoint has 2
  test::write_text(dir / "config.json", cfg.dump());
  refused("checkpoint lacks tensor 'encoder.layer.2.");
}
