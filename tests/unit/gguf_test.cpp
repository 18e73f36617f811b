// GGUF: the reader against llama.cpp's converter output (the golden fixtures' model.gguf),
// the encodings against references recorded by tests/fixtures/gguf/make_oracles.py (numpy,
// llama.cpp's gguf-py), the writer by reading back, and hostile files refused before anything
// is sized by them.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/model/gguf_model.hpp"
#include "core/model/model_config.hpp"
#include "core/model/tokenizer.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

namespace {

std::filesystem::path fixture(const std::string& model) {
  REQUIRE(!test::shared_dir().empty());
  return test::shared_dir() / "golden/models" / model;
}

nlohmann::json oracles() {
  return nlohmann::json::parse(
      read_file(std::filesystem::path(XOPS_SOURCE_DIR) / "tests/fixtures/gguf/oracles.json"));
}

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// A GGUF header built by hand, field by field, to corrupt one at a time.
struct Raw {
  std::string s;
  template <class T>
  Raw& pod(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Raw& str(const std::string& x) {
    pod<uint64_t>(x.size());
    s += x;
    return *this;
  }
};

std::string open_error(const std::string& bytes) {
  try {
    GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "(opened)";
}

// magic, version 3, counts, then the caller's body.
Raw header(uint64_t tensors, uint64_t kv) {
  Raw r;
  r.s = "GGUF";
  r.pod<uint32_t>(3).pod<uint64_t>(tensors).pod<uint64_t>(kv);
  return r;
}

}  // namespace

TEST_CASE("gguf: llama.cpp's converter output reads back as the HF model", "[gguf]") {
  for (auto name : {"gpt2-tiny", "llama-tiny"}) {
    INFO(name);
    auto f = GgufFile::open(fixture(name) / "model.gguf");
    CHECK(f->version() == 3);
    auto cfg = gguf_model_config(*f);
    auto hf = load_model_config(fixture(name));
    CHECK(cfg.arch == hf.arch);
    CHECK(cfg.n_layer == hf.n_layer);
    CHECK(cfg.d_model == hf.d_model);
    CHECK(cfg.n_head == hf.n_head);
    CHECK(cfg.n_kv_head == hf.n_kv_head);
    CHECK(cfg.head_dim == hf.head_dim);
    CHECK(cfg.d_ff == hf.d_ff);
    CHECK(cfg.vocab_size == hf.vocab_size);
    CHECK(cfg.max_positions == hf.max_positions);
    CHECK(cfg.norm_eps == hf.norm_eps);  // the float32 in the file read as the decimal HF wrote
    CHECK(cfg.rope_theta == hf.rope_theta);
    CHECK(cfg.tie_embeddings == hf.tie_embeddings);
    CHECK(cfg.bos_id == hf.bos_id);
    CHECK(cfg.eos_id == hf.eos_id);
    // load_model_config and Tokenizer::load take the file as they take a directory.
    CHECK(load_model_config(fixture(name) / "model.gguf").n_layer == hf.n_layer);
    const auto* emb = f->tensor("token_embd.weight");
    REQUIRE(emb);
    CHECK(emb->type == GgmlType::F32);
    CHECK(emb->shape() == std::vector<int64_t>{50257, 32});
  }
}

TEST_CASE("gguf: the tokenizer from tokenizer.ggml.* encodes the 109 golden strings",
          "[gguf][tokenizer]") {
  auto tok = Tokenizer::load(fixture("gpt2-tiny") / "model.gguf");
  auto g =
      nlohmann::json::parse(read_file(test::shared_dir() / "golden/tokenizer/gpt2_golden.json"));
  size_t n = 0;
  for (const auto& c : g["cases"]) {
    auto text = c["text"].get<std::string>();
    INFO(c["name"].get<std::string>());
    CHECK(tok.encode(text) == c["ids"].get<std::vector<int32_t>>());
    ++n;
  }
  CHECK(n == 109);
  CHECK(tok.special_id("<|endoftext|>") == 50256);
  CHECK(tok.encode("<|endoftext|>", true) == std::vector<int32_t>{50256});
}

TEST_CASE("gguf: fp16, bf16 and Q8_0 encodings match numpy's and gguf-py's", "[gguf]") {
  auto o = oracles();
  auto bits = o["f32_bits"].get<std::vector<uint32_t>>();
  auto f16 = o["f16_bits"].get<std::vector<uint16_t>>();
  auto bf16 = o["bf16_bits"].get<std::vector<uint16_t>>();
  REQUIRE(bits.size() == f16.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    INFO("value " << from_bits(bits[i]) << " (0x" << std::hex << bits[i] << ")");
    CHECK(fp32_to_fp16(from_bits(bits[i])) == f16[i]);
    CHECK(fp32_to_bf16(from_bits(bits[i])) == bf16[i]);
  }
  // Decoding is exact: every fp16 value survives fp16 -> fp32 -> fp16.
  size_t kept = 0;
  for (uint32_t h = 0; h < 0x10000; ++h)
    if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0)
      kept += fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))) == h;
  CHECK(kept == 0x10000 - 2 * 1023);  // every value but the NaNs
  std::vector<float> q;
  for (auto b : o["q8_input_bits"].get<std::vector<uint32_t>>()) q.push_back(from_bits(b));
  auto enc = ggml_encode(GgmlType::Q8_0, q.data(), static_cast<int64_t>(q.size()));
  std::string hex;
  for (auto c : enc) hex += fmt::format("{:02x}", c);
  CHECK(hex == o["q8_0_hex"].get<std::string>());
  std::vector<float> back(q.size());
  ggml_decode(GgmlType::Q8_0, enc.data(), static_cast<int64_t>(q.size()), back.data());
  for (size_t b = 0; b < q.size() / 32; ++b) {  // within half a step (scale rounded to fp16)
    float amax = 0, worst = 0;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) amax = std::max(amax, std::fabs(q[i]));
    for (size_t i = b * 32; i < b * 32 + 32; ++i)
      worst = std::max(worst, std::fabs(back[i] - q[i]));
    CHECK(worst <= 0.5f * amax / 127.0f * 1.01f + 1e-7f);
  }
}

TEST_CASE("gguf: the writer's file reads back key for key and byte for byte", "[gguf]") {
  test::TempDir tmp;
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"general.architecture", GgufValue::str("llama")},
      {"a.u32", GgufValue::u32(4000000000u)},
      {"a.i32", GgufValue::i32(-7)},
      {"a.f32", GgufValue::f32(0.25f)},
      {"a.bool", GgufValue::boolean(true)},
      {"a.strings", GgufValue::strings({"x", "", "héllo"})},
      {"a.ints", GgufValue::i32s({1, -2, 3})}};
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::vector<GgufTensorToWrite> ts;
  for (auto t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0})
    ts.push_back({std::string("t.") + ggml_type_name(static_cast<uint32_t>(t)),
                  t,
                  {2, 32},
                  ggml_encode(t, w.data(), 64)});
  write_gguf(tmp / "m.gguf", kv, ts);
  CHECK(is_gguf_file(tmp / "m.gguf"));
  auto f = GgufFile::open(tmp / "m.gguf");
  CHECK(f->get_string("general.architecture") == "llama");
  CHECK(f->get_uint("a.u32") == 4000000000u);
  CHECK(f->find("a.i32")->i == -7);
  CHECK(f->get_float("a.f32") == 0.25);
  CHECK(f->get_bool("a.bool") == true);
  REQUIRE(f->find("a.strings")->arr.size() == 3);
  CHECK(f->find("a.strings")->arr[2].s == "héllo");
  CHECK(f->find("a.ints")->arr[1].i == -2);
  CHECK_THROWS_WITH(f->get_uint("a.f32"),
                    Catch::Contains("is a float32, expected a non-negative integer"));
  REQUIRE(f->tensors().size() == 4);
  for (size_t i = 0; i < ts.size(); ++i) {
    const auto& t = f->tensors()[i];
    CHECK(t.name == ts[i].name);
    CHECK(t.shape() == std::vector<int64_t>{2, 32});
    CHECK(t.offset % 32 == 0);
    CHECK(std::vector<uint8_t>(t.data, t.data + t.nbytes) == ts[i].bytes);
  }
  // F32/F16/BF16 decode to the values (these are exact in all three); Q8_0 within a step.
  std::vector<float> back(64);
  ggml_decode(GgmlType::BF16, f->tensors()[2].data, 64, back.data());
  CHECK(back == w);
}

TEST_CASE("gguf: hostile files are refused with what and where, before allocating",
          "[gguf][untrusted]") {
  CHECK_THAT(open_error("GGU"), Catch::Contains("no GGUF magic"));
  CHECK_THAT(open_error("GGML\x03\0\0\0"), Catch::Contains("no GGUF magic"));
  {
    Raw r;
    r.s = "GGUF";
    r.pod<uint32_t>(1).pod<uint64_t>(0).pod<uint64_t>(0);
    CHECK_THAT(open_error(r.s), Catch::Contains("GGUF version 1"));
  }
  CHECK_THAT(open_error(header(1ull << 40, 0).s), Catch::Contains("tensors declared"));
  CHECK_THAT(open_error(header(0, 1ull << 40).s), Catch::Contains("metadata keys declared"));
  // A key whose string length is 2^60: refused by the bounds, not by a failed allocation.
  CHECK_THAT(open_error(header(0, 1).pod<uint64_t>(1ull << 60).s), Catch::Contains("string of"));
  CHECK_THAT(open_error(header(0, 1).str("k").pod<uint32_t>(8).pod<uint64_t>(100).s),
             Catch::Contains("needs 100 bytes"));
  // An array of 2^40 uint32 in a 40-byte file.
  CHECK_THAT(
      open_error(
          header(0, 1).str("k").pod<uint32_t>(9).pod<uint32_t>(4).pod<uint64_t>(1ull << 40).s),
      Catch::Contains("declares 1099511627776 elements"));
  CHECK_THAT(open_error(header(0, 1).str("k").pod<uint32_t>(9).pod<uint32_t>(9).pod<uint64_t>(1).s),
             Catch::Contains("array of arrays"));
  CHECK_THAT(open_error(header(0, 1).str("k").pod<uint32_t>(99).s),
             Catch::Contains("unknown value type 99"));
  CHECK_THAT(open_error(header(0, 2)
                            .str("k")
                            .pod<uint32_t>(4)
                            .pod<uint32_t>(1)
                            .str("k")
                            .pod<uint32_t>(4)
                            .pod<uint32_t>(1)
                            .s),
             Catch::Contains("'k' appears twice"));
  auto tensor = [](uint32_t dims, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    auto r = header(1, 0);
    r.str("w").pod<uint32_t>(dims);
    for (auto n : ne) r.pod<uint64_t>(n);
    r.pod<uint32_t>(type).pod<uint64_t>(offset);
    return r;
  };
  CHECK_THAT(open_error(tensor(5, {1, 1, 1, 1, 1}, 0, 0).s), Catch::Contains("5 dimensions"));
  CHECK_THAT(open_error(tensor(2, {0, 4}, 0, 0).s), Catch::Contains("dimension 0 = 0"));
  CHECK_THAT(open_error(tensor(2, {1ull << 30, 1ull << 30}, 0, 0).s),
             Catch::Contains("more than 2^42 elements"));
  // 2^40 x 2^40 is 2^80: a product that wraps to 0 in 64 bits must not pass as empty.
  CHECK_THAT(open_error(tensor(2, {1ull << 40, 1ull << 40}, 0, 0).s),
             Catch::Contains("more than 2^42 elements"));
  CHECK_THAT(open_error(tensor(2, {32, 4}, 12, 0).s),
             Catch::Contains("type Q4_K, which xops does not read"));
  CHECK_THAT(open_error(tensor(2, {33, 4}, 8, 0).s),
             Catch::Contains("not a multiple of Q8_0's block of 32"));
  CHECK_THAT(open_error(tensor(1, {4}, 0, 7).s),
             Catch::Contains("not a multiple of the alignment 32"));
  {  // 16 bytes of data declared at offset 32 of an empty data section
    auto r = tensor(1, {4}, 0, 32);
    r.s.resize((r.s.size() + 31) / 32 * 32, '\0');
    CHECK_THAT(open_error(r.s), Catch::Contains("runs past the end of the data section"));
  }
}

TEST_CASE("gguf: what xops would not run faithfully is refused, not dropped", "[gguf]") {
  test::TempDir tmp;
  auto src = GgufFile::open(fixture("llama-tiny") / "model.gguf");
  auto rewrite = [&](const std::string& extra_key, GgufValue v, bool extra_tensor) {
    auto kv = src->metadata();
    if (!extra_key.empty()) kv.emplace_back(extra_key, std::move(v));
    std::vector<GgufTensorToWrite> ts;
    for (const auto& t : src->tensors())
      ts.push_back({t.name, t.type, t.shape(), std::vector<uint8_t>(t.data, t.data + t.nbytes)});
    if (extra_tensor)
      ts.push_back({"rope_freqs.weight", GgmlType::F32, {4}, std::vector<uint8_t>(16)});
    write_gguf(tmp / "x.gguf", kv, ts);
    return GgufFile::open(tmp / "x.gguf");
  };
  CHECK_THROWS_WITH(
      gguf_model_config(*rewrite("llama.rope.scaling.type", GgufValue::str("yarn"), false)),
      Catch::Contains("llama.rope.scaling.type is set"));
  CHECK_THROWS_WITH(gguf_model_config(*rewrite("llama.expert_count", GgufValue::u32(8), false)),
                    Catch::Contains("expert_count is set"));
  CHECK_NOTHROW(
      gguf_model_config(*rewrite("llama.rope.scaling.type", GgufValue::str("none"), false)));
  {  // a non-finite float must not become the default through JSON's null
    auto kv = src->metadata();
    for (auto& [k, v] : kv)
      if (k == "llama.rope.freq_base") v = GgufValue::f32(std::numeric_limits<float>::infinity());
    std::vector<GgufTensorToWrite> ts;
    for (const auto& t : src->tensors())
      ts.push_back({t.name, t.type, t.shape(), std::vector<uint8_t>(t.data, t.data + t.nbytes)});
    write_gguf(tmp / "inf.gguf", kv, ts);
    CHECK_THROWS_WITH(gguf_model_config(*GgufFile::open(tmp / "inf.gguf")),
                      Catch::Contains("not a finite number"));
  }
  CHECK_THROWS_WITH(gguf_model_config(*rewrite("", {}, true)),
                    Catch::Contains("rope_freqs.weight"));
  {
    auto f = std::shared_ptr<const GgufFile>(rewrite("", {}, false));
    CHECK_NOTHROW(gguf_checkpoint(f, gguf_model_config(*f)));
  }
  {  // a tensor the architecture has no place for
    auto kv = src->metadata();
    std::vector<GgufTensorToWrite> ts;
    for (const auto& t : src->tensors())
      ts.push_back({t.name, t.type, t.shape(), std::vector<uint8_t>(t.data, t.data + t.nbytes)});
    ts.push_back({"blk.0.attn_q_norm.weight", GgmlType::F32, {8}, std::vector<uint8_t>(32)});
    write_gguf(tmp / "y.gguf", kv, ts);
    auto f = std::shared_ptr<const GgufFile>(GgufFile::open(tmp / "y.gguf"));
    CHECK_THROWS_WITH(gguf_checkpoint(f, gguf_model_config(*f)),
                      Catch::Contains("'blk.0.attn_q_norm.weight' is not part"));
  }
  {
    auto kv = src->metadata();
    for (auto& [k, v] : kv)
      if (k == "tokenizer.ggml.model") v = GgufValue::str("llama");
    write_gguf(tmp / "z.gguf", kv, {});
    CHECK_THROWS_WITH(gguf_tokenizer(*GgufFile::open(tmp / "z.gguf")),
                      Catch::Contains("tokenizer 'llama' is not supported"));
    for (auto& [k, v] : kv)
      if (k == "tokenizer.ggml.model") v = GgufValue::str("gpt2");
    for (auto& [k, v] : kv)
      if (k == "tokenizer.ggml.pre") v = GgufValue::str("llama-bpe");
    write_gguf(tmp / "z.gguf", kv, {});
    CHECK_THROWS_WITH(gguf_tokenizer(*GgufFile::open(tmp / "z.gguf")),
                      Catch::Contains("pre-tokenizer 'llama-bpe'"));
  }
}
