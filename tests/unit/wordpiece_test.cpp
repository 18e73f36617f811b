// BERT's WordPiece tokenizer against Hugging Face's own tokenizers.js on the fixture's
// tokenizer.json (tests/compat/bert/wordpiece_expected.json, recorded by regenerate.sh):
// accents, CJK, punctuation, control characters, added tokens, over-long words.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/wordpiece.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using nlohmann::json;

namespace {
const std::filesystem::path kFixture =
    std::filesystem::path(XOPS_SOURCE_DIR) / "tests/fixtures/bert-tiny";
const std::filesystem::path kCompat = std::filesystem::path(XOPS_SOURCE_DIR) / "tests/compat/bert";
}  // namespace

TEST_CASE("WordPiece ids equal Hugging Face tokenizers.js on every recorded string",
          "[wordpiece]") {
  auto tok = WordPieceTokenizer::load(kFixture);
  auto cases = json::parse(read_file(kCompat / "wordpiece_expected.json"));
  REQUIRE(cases.size() >= 20);
  for (const auto& c : cases) {
    INFO(c["text"].get<std::string>());
    CHECK(tok.encode(c["text"].get<std::string>()) == c["ids"].get<std::vector<int32_t>>());
  }
}

TEST_CASE("WordPiece normalises as BertNormalizer does", "[wordpiece]") {
  auto tok = WordPieceTokenizer::load(kFixture);
  CHECK(tok.normalize("Café NAÏVE") == "cafe naive");
  CHECK(tok.normalize("東京") == " 東  京 ");
  CHECK(tok.normalize("a\tb\u00a0c\x01") == "a b c");
  CHECK(tok.pre_tokenize("don't (x)") == std::vector<std::string>{"don", "'", "t", "(", "x", ")"});
  // vocab.txt + tokenizer_config.json: the same ids as tokenizer.json.
  test::TempDir d;
  auto j = json::parse(read_file(kFixture / "tokenizer.json"));
  std::vector<std::string> vocab(j["model"]["vocab"].size());
  for (auto& [t, id] : j["model"]["vocab"].items()) vocab[id.get<size_t>()] = t;
  std::string text;
  for (const auto& v : vocab) text += v + "\n";
  test::write_text(d / "vocab.txt", text);
  test::write_text(d / "tokenizer_config.json", R"({"do_lower_case": true})");
  auto from_txt = WordPieceTokenizer::load(d.path());
  CHECK(from_txt.encode("Mr. Darcy's pride; Café 東京!") ==
        tok.encode("Mr. Darcy's pride; Café 東京!"));
  // Truncation keeps [SEP] last.
  auto ids = tok.encode("one two three four five six", 4);
  REQUIRE(ids.size() == 4);
  CHECK(ids.front() == tok.token_id("[CLS]"));
  CHECK(ids.back() == tok.token_id("[SEP]"));
  CHECK(is_wordpiece_dir(kFixture));
}

TEST_CASE("WordPiece refuses a pipeline it does not run", "[wordpiece]") {
  auto base = json::parse(read_file(kFixture / "tokenizer.json"));
  auto refused = [&](const std::function<void(json&)>& edit, const std::string& needle) {
    auto j = base;
    edit(j);
    try {
      WordPieceTokenizer::from_tokenizer_json(j.dump(), "t/tokenizer.json");
      FAIL("accepted");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  refused(
      [](json& j) {
        j["normalizer"] = {{"type", "NFKC"}};
      },
      "normalizer NFKC is not supported");
  refused(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Whitespace"}};
      },
      "pre_tokenizer Whitespace");
  refused([](json& j) { j["model"]["type"] = "BPE"; }, "not WordPiece");
  refused([](json& j) { j["model"]["vocab"]["[CLS]"] = 99999; }, "ids must be 0..");
  refused([](json& j) { j["model"]["unk_token"] = "<unk>"; },
          "unknown token '<unk>' is not in the vocabulary");
  refused([](json& j) { j["post_processor"]["single"].erase(0); }, "is not [CLS] $A [SEP]");
}
