#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/tokenizer.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {
const Tokenizer& gpt2() {
  static Tokenizer t = Tokenizer::from_files(test::shared_dir() / "golden/tokenizer/vocab.json",
                                             test::shared_dir() / "golden/tokenizer/merges.txt");
  return t;
}
nlohmann::json golden() {
  REQUIRE(!test::shared_dir().empty());
  return nlohmann::json::parse(read_file(test::shared_dir() / "golden/tokenizer/gpt2_golden.json"));
}
}  // namespace

TEST_CASE("tokenizer: all 109 golden GPT-2 cases encode exactly and round-trip", "[tokenizer]") {
  auto g = golden();
  auto from_json = Tokenizer::from_tokenizer_json(test::shared_dir() / "golden/tokenizer/tokenizer.json");
  size_t n = 0;
  for (const auto& c : g["cases"]) {
    auto text = c["text"].get<std::string>();
    auto want = c["ids"].get<std::vector<int32_t>>();
    INFO("case " << c["name"].get<std::string>());
    CHECK(gpt2().encode(text) == want);
    CHECK(from_json.encode(text) == want);
    CHECK(gpt2().decode(want) == text);
    ++n;
  }
  CHECK(n == 109);
}

TEST_CASE("tokenizer: special tokens are parsed only when asked", "[tokenizer]") {
  auto g = golden();
  auto ex = g["special_token_example"];
  auto text = ex["text"].get<std::string>();
  CHECK(gpt2().encode(text, true) == ex["ids_with_special_allowed"].get<std::vector<int32_t>>());
  CHECK(gpt2().encode(text, false).size() > 3);
  CHECK(gpt2().special_id("<|endoftext|>") == 50256);
  CHECK(gpt2().decode({15496, 50256, 10603}, true) == "HelloWorld");
}

TEST_CASE("tokenizer: the stream decoder holds back a split character", "[tokenizer]") {
  const auto& t = gpt2();
  auto ids = t.encode("日本語 🚀 ok");
  Tokenizer::StreamDecoder d(t);
  std::string all;
  for (auto id : ids) {
    auto piece = d.push(id);
    CHECK(complete_utf8_prefix(piece) == piece.size());
    all += piece;
  }
  all += d.flush();
  CHECK(all == "日本語 🚀 ok");
  Tokenizer::StreamDecoder bad(t);
  CHECK(bad.push(t.encode("\xe6\x97\xa5").front()).size() <= 3);
}

TEST_CASE("tokenizer: byte-level vocabulary maps bytes to ids 0..255", "[tokenizer]") {
  auto t = Tokenizer::byte_level();
  CHECK(t.vocab_size() == 257);
  CHECK(t.encode("Ab\n") == std::vector<int32_t>{65, 98, 10});
  CHECK(t.special_id("<|endoftext|>") == 256);
  CHECK(t.encode("x<|endoftext|>", true) == std::vector<int32_t>{120, 256});
  CHECK(t.decode(t.encode("é")) == "é");
}

TEST_CASE("tokenizer: save writes files that load back identically", "[tokenizer]") {
  test::TempDir tmp;
  gpt2().save(tmp.path());
  auto a = Tokenizer::from_tokenizer_json(tmp / "tokenizer.json");
  auto b = Tokenizer::from_files(tmp / "vocab.json", tmp / "merges.txt");
  for (const std::string text : {"Hello, world!", "  spaces\n\n and 123 numbers", "naïve café"}) {
    CHECK(a.encode(text) == gpt2().encode(text));
    CHECK(b.encode(text) == gpt2().encode(text));
  }
  auto bytes = Tokenizer::byte_level();
  bytes.save(tmp / "b");
  auto c = Tokenizer::load(tmp / "b");
  CHECK(c.encode("hi<|endoftext|>", true) == std::vector<int32_t>{104, 105, 256});
}

TEST_CASE("tokenizer: invalid UTF-8 and unknown ids are clear errors", "[tokenizer]") {
  CHECK_THROWS_AS(gpt2().encode("ok \xff\xfe"), Error);
  CHECK_THROWS_AS(gpt2().token_bytes(60000), Error);
}
