#include "core/model/gguf_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.hpp"

namespace xops {

namespace {

// One tensor under both names. heads > 0: the rows are q/k rows permuted for llama.cpp's
// RoPE over that many heads.
struct Mapping {
  std::string gguf, hf;
  int heads = 0;
};

std::vector<Mapping> tensor_map(const ModelConfig& c) {
  std::vector<Mapping> m;
  if (c.arch == Arch::Gpt2) {
    m.push_back({"token_embd.weight", "transformer.wte.weight"});
    m.push_back({"position_embd.weight", "transformer.wpe.weight"});
    for (int i = 0; i < c.n_layer; ++i) {
      auto b = "blk." + std::to_string(i) + ".", h = "transformer.h." + std::to_string(i) + ".";
      for (auto [g, n] : {std::pair<const char*, const char*>{"attn_norm", "ln_1"},
                          {"attn_qkv", "attn.c_attn"},
                          {"attn_output", "attn.c_proj"},
                          {"ffn_norm", "ln_2"},
                          {"ffn_up", "mlp.c_fc"},
                          {"ffn_down", "mlp.c_proj"}})
        for (const char* part : {".weight", ".bias"}) m.push_back({b + g + part, h + n + part});
    }
    m.push_back({"output_norm.weight", "transformer.ln_f.weight"});
    m.push_back({"output_norm.bias", "transformer.ln_f.bias"});
  } else {
    m.push_back({"token_embd.weight", "model.embed_tokens.weight"});
    for (int i = 0; i < c.n_layer; ++i) {
      auto b = "blk." + std::to_string(i) + ".", h = "model.layers." + std::to_string(i) + ".";
      m.push_back({b + "attn_norm.weight", h + "input_layernorm.weight"});
      m.push_back({b + "ffn_norm.weight", h + "post_attention_layernorm.weight"});
      for (auto [g, n, heads] :
           {std::tuple<const char*, const char*, int>{"attn_q", "self_attn.q_proj", c.n_head},
            {"attn_k", "self_attn.k_proj", c.n_kv_head},
            {"attn_v", "self_attn.v_proj", 0},
            {"attn_output", "self_attn.o_proj", 0},
            {"ffn_gate", "mlp.gate_proj", 0},
            {"ffn_up", "mlp.up_proj", 0},
            {"ffn_down", "mlp.down_proj", 0}}) {
        m.push_back({b + g + ".weight", h + n + ".weight", heads});
        m.push_back({b + g + ".bias", h + n + ".bias", heads});
      }
    }
    m.push_back({"output_norm.weight", "model.norm.weight"});
  }
  m.push_back({"output.weight", "lm_head.weight"});
  return m;
}

// Row r of the HF tensor is row permuted_row(r) of the GGUF one (convert_hf_to_gguf.py's
// permute: reshape(heads, 2, half, ...).swapaxes(1, 2)).
int64_t permuted_row(int64_t r, int64_t rows, int heads) {
  int64_t hd = rows / heads, half = hd / 2;
  int64_t h = r / hd, within = r % hd, s = within / half, j = within % half;
  return h * hd + 2 * j + s;
}

// Copies rows so that dst row r = src row perm(r) (to_gguf false) or dst row perm(r) = src
// row r (to_gguf true).
std::vector<uint8_t> permute_rows(const uint8_t* src, int64_t rows, size_t row_bytes, int heads,
                                  bool to_gguf) {
  std::vector<uint8_t> out(static_cast<size_t>(rows) * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t p = permuted_row(r, rows, heads);
    if (to_gguf)
      std::memcpy(out.data() + p * row_bytes, src + r * row_bytes, row_bytes);
    else
      std::memcpy(out.data() + r * row_bytes, src + p * row_bytes, row_bytes);
  }
  return out;
}

DType dtype_of(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return DType::F32;
    case GgmlType::F16:
      return DType::F16;
    case GgmlType::BF16:
      return DType::BF16;
    case GgmlType::Q8_0:
      return DType::Q8_0;
  }
  return DType::F32;
}

// GPT-2 converters before 2024 wrote output.weight as a copy of token_embd.weight.
bool output_is_tied(const GgufFile& f) {
  const auto* out = f.tensor("output.weight");
  if (!out) return true;
  const auto* emb = f.tensor("token_embd.weight");
  return emb && emb->type == out->type && emb->ne == out->ne && emb->nbytes == out->nbytes &&
         std::memcmp(emb->data, out->data, emb->nbytes) == 0;
}

// A float32 value as the shortest decimal that reads back to it (1e-05, not 9.99999974e-06).
// Not finite: refused here (JSON would turn it into null, i.e. the default).
double shortest(double f32, const std::string& display, const char* key) {
  if (!std::isfinite(f32) || std::fabs(f32) > 3.0e38)
    throw runtime_error(fmt::format("{}: {} is {}, not a finite number", display, key, f32),
                        "is the file corrupt?");
  return std::stod(fmt::format("{}", static_cast<float>(f32)));
}

}  // namespace

ModelConfig gguf_model_config(const GgufFile& f) {
  const auto& name = f.display();
  auto arch = f.get_string("general.architecture");
  if (!arch)
    throw runtime_error(fmt::format("{}: no general.architecture", name),
                        "is this a model GGUF (not a LoRA or a vocab)?");
  if (auto type = f.get_string("general.type"); type && *type != "model")
    throw runtime_error(
        fmt::format("{}: general.type is '{}', not a model", name, *type),
        *type == "adapter" ? "a GGUF LoRA adapter is applied by llama.cpp; xops reads PEFT adapters"
                           : "give a model GGUF");
  if (*arch != "gpt2" && *arch != "llama")
    throw runtime_error(fmt::format("{}: architecture '{}' is not supported", name, *arch),
                        "xops runs gpt2 and llama GGUF files");
  auto key = [&](const std::string& k) { return *arch + "." + k; };
  auto need = [&](const std::string& k) -> uint64_t {
    auto v = f.get_uint(key(k));
    if (!v)
      throw runtime_error(fmt::format("{}: missing {}", name, key(k)), "is the file complete?");
    return *v;
  };
  // Keys that change the computation and that xops does not implement: refused, not ignored.
  for (const char* k :
       {"rope.scaling.type", "expert_count", "attention.sliding_window", "rope.scaling.factor"}) {
    const auto* v = f.find(key(k));
    if (!v) continue;
    bool neutral =
        (v->type == GgufValueType::STRING && (v->s == "none" || v->s.empty())) ||
        (v->type != GgufValueType::STRING && v->u == 0 && v->i == 0 && (v->f == 0 || v->f == 1));
    if (!neutral)
      throw runtime_error(fmt::format("{}: {} is set; xops does not implement it", name, key(k)),
                          "xops runs dense GPT-2 and Llama models without RoPE scaling");
  }
  if (f.tensor("rope_freqs.weight"))
    throw runtime_error(
        fmt::format("{}: rope_freqs.weight (Llama 3.1 RoPE scaling) is not supported", name));
  const auto* emb = f.tensor("token_embd.weight");
  if (!emb || emb->ne.size() != 2)
    throw runtime_error(fmt::format("{}: no 2-D token_embd.weight", name));
  // The model as the config.json that HF would hold, so one validator bounds every size.
  nlohmann::json j;
  auto tokens = f.find("tokenizer.ggml.tokens");
  uint64_t vocab = f.get_uint(key("vocab_size")).value_or(static_cast<uint64_t>(emb->ne[1]));
  j["vocab_size"] = vocab;
  j["tie_word_embeddings"] = output_is_tied(f);
  if (auto bos = f.get_uint("tokenizer.ggml.bos_token_id")) j["bos_token_id"] = *bos;
  if (auto eos = f.get_uint("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = *eos;
  if (*arch == "gpt2") {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["n_layer"] = need("block_count");
    j["n_embd"] = need("embedding_length");
    j["n_head"] = need("attention.head_count");
    j["n_inner"] = need("feed_forward_length");
    j["n_positions"] = need("context_length");
    j["layer_norm_epsilon"] =
        shortest(f.get_float(key("attention.layer_norm_epsilon")).value_or(1e-5), name,
                 "layer_norm_epsilon");
  } else {
    j["architectures"] = {"LlamaForCausalLM"};
    j["num_hidden_layers"] = need("block_count");
    j["hidden_size"] = need("embedding_length");
    j["num_attention_heads"] = need("attention.head_count");
    j["num_key_value_heads"] =
        f.get_uint(key("attention.head_count_kv")).value_or(need("attention.head_count"));
    j["intermediate_size"] = need("feed_forward_length");
    j["max_position_embeddings"] = need("context_length");
    j["rms_norm_eps"] =
        shortest(f.get_float(key("attention.layer_norm_rms_epsilon")).value_or(1e-5), name,
                 "layer_norm_rms_epsilon");
    j["rope_theta"] =
        shortest(f.get_float(key("rope.freq_base")).value_or(10000.0), name, "rope.freq_base");
    if (auto kl = f.get_uint(key("attention.key_length"))) j["head_dim"] = *kl;
    if (auto vl = f.get_uint(key("attention.value_length"));
        vl && j.contains("head_dim") && *vl != j["head_dim"])
      throw runtime_error(
          fmt::format("{}: key length {} and value length {} differ; xops needs them equal", name,
                      j["head_dim"].get<uint64_t>(), *vl));
    j["attention_bias"] = f.tensor("blk.0.attn_q.bias") != nullptr;
    j["mlp_bias"] = f.tensor("blk.0.ffn_up.bias") != nullptr;
  }
  auto c = parse_model_config(j.dump(), name);
  if (c.arch == Arch::Llama)
    if (auto rd = f.get_uint(key("rope.dimension_count"));
        rd && *rd != static_cast<uint64_t>(c.head_dim))
      throw runtime_error(
          fmt::format("{}: RoPE over {} of {} dimensions (partial rotary) is not supported", name,
                      *rd, c.head_dim));
  if (tokens && tokens->arr.size() > static_cast<size_t>(c.vocab_size))
    throw runtime_error(fmt::format("{}: {} tokens but a vocabulary of {}", name,
                                    tokens->arr.size(), c.vocab_size));
  return c;
}

Tokenizer gguf_tokenizer(const GgufFile& f) {
  const auto& name = f.display();
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) throw runtime_error(fmt::format("{}: no tokenizer (tokenizer.ggml.model)", name));
  if (*model != "gpt2")
    throw runtime_error(fmt::format("{}: tokenizer '{}' is not supported", name, *model),
                        "xops reads byte-level BPE tokenizers (tokenizer.ggml.model = gpt2)");
  // The pre-tokenizer regex: xops implements GPT-2's. Another one would split text differently.
  if (auto pre = f.get_string("tokenizer.ggml.pre"); pre && *pre != "gpt-2" && *pre != "gpt2")
    throw runtime_error(fmt::format("{}: pre-tokenizer '{}' is not supported", name, *pre),
                        "xops splits text with GPT-2's pre-tokenizer (tokenizer.ggml.pre = gpt-2)");
  if (f.get_bool("tokenizer.ggml.add_bos_token").value_or(false))
    throw runtime_error(
        fmt::format("{}: tokenizer.ggml.add_bos_token is true; xops adds no BOS token", name));
  auto strings = [&](const char* k, bool required) {
    std::vector<std::string> out;
    const auto* v = f.find(k);
    if (!v) {
      if (required) throw runtime_error(fmt::format("{}: missing {}", name, k));
      return out;
    }
    if (v->type != GgufValueType::ARRAY || v->elem != GgufValueType::STRING)
      throw runtime_error(fmt::format("{}: {} must be an array of strings", name, k));
    out.reserve(v->arr.size());
    for (const auto& e : v->arr) out.push_back(e.s);
    return out;
  };
  auto tokens = strings("tokenizer.ggml.tokens", true);
  auto merges = strings("tokenizer.ggml.merges", false);
  std::vector<int32_t> types;
  if (const auto* v = f.find("tokenizer.ggml.token_type")) {
    if (v->type != GgufValueType::ARRAY || v->elem != GgufValueType::I32 ||
        v->arr.size() != tokens.size())
      throw runtime_error(
          fmt::format("{}: tokenizer.ggml.token_type must be one int32 per token", name));
    for (const auto& e : v->arr) types.push_back(static_cast<int32_t>(e.i));
  }
  return Tokenizer::from_vocab(tokens, merges, types, name);
}

std::string gguf_chat_template(const std::filesystem::path& path) {
  if (!is_gguf_file(path)) return "";
  return GgufFile::open(path)->get_string("tokenizer.chat_template").value_or("");
}

Checkpoint gguf_checkpoint(std::shared_ptr<const GgufFile> f, const ModelConfig& c) {
  struct Store {
    std::shared_ptr<const GgufFile> file;
    std::deque<std::vector<uint8_t>> buffers;
  };
  auto store = std::make_shared<Store>();
  store->file = f;
  bool tied = output_is_tied(*f);
  std::vector<TensorView> views;
  std::set<std::string> used;
  for (const auto& m : tensor_map(c)) {
    const auto* t = f->tensor(m.gguf);
    if (!t) continue;  // the engine names what is missing
    used.insert(m.gguf);
    if (m.gguf == "output.weight" && tied) continue;
    TensorView v;
    v.name = m.hf;
    v.dtype = dtype_of(t->type);
    v.shape = t->shape();
    v.data = t->data;
    v.nbytes = t->nbytes;
    if (m.heads > 0 && t->ne.size() <= 2) {  // q/k weight rows, or a q/k bias's values
      int64_t rows = t->ne.back();
      if (rows % m.heads != 0 || (rows / m.heads) % 2 != 0)
        throw runtime_error(fmt::format("{}: {} has {} rows, not {} heads of an even size",
                                        f->display(), m.gguf, rows, m.heads));
      store->buffers.push_back(
          permute_rows(t->data, rows, t->nbytes / static_cast<size_t>(rows), m.heads, false));
      v.data = store->buffers.back().data();
    }
    views.push_back(std::move(v));
  }
  for (const auto& t : f->tensors())
    if (!used.count(t.name))
      throw runtime_error(
          fmt::format("{}: tensor '{}' is not part of a {} model as xops runs it", f->display(),
                      t.name, c.arch_name()),
          "the file holds weights xops would ignore (another architecture or variant)");
  return Checkpoint::from_views(std::move(views), store, true);
}

uint32_t gguf_file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return 0;
    case GgmlType::F16:
      return 1;
    case GgmlType::Q8_0:
      return 7;
    case GgmlType::BF16:
      return 32;
  }
  return 0;
}

void write_gguf_model(const std::filesystem::path& path, const ModelConfig& c, const Tokenizer& tok,
                      const Checkpoint& hf, const GgufExportOptions& opts) {
  const std::string arch = c.arch == Arch::Gpt2 ? "gpt2" : "llama";
  std::vector<std::pair<std::string, GgufValue>> kv;
  auto put = [&](std::string k, GgufValue v) { kv.emplace_back(std::move(k), std::move(v)); };
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  put("general.architecture", GgufValue::str(arch));
  put("general.type", GgufValue::str("model"));
  if (!opts.name.empty()) put("general.name", GgufValue::str(opts.name));
  put(arch + ".block_count", u32(c.n_layer));
  put(arch + ".context_length", u32(c.max_positions));
  put(arch + ".embedding_length", u32(c.d_model));
  put(arch + ".feed_forward_length", u32(c.d_ff));
  put(arch + ".attention.head_count", u32(c.n_head));
  if (c.arch == Arch::Gpt2) {
    put("gpt2.attention.layer_norm_epsilon", GgufValue::f32(static_cast<float>(c.norm_eps)));
  } else {
    put("llama.attention.head_count_kv", u32(c.n_kv_head));
    put("llama.rope.freq_base", GgufValue::f32(static_cast<float>(c.rope_theta)));
    put("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(c.norm_eps)));
    put("llama.attention.key_length", u32(c.head_dim));
    put("llama.attention.value_length", u32(c.head_dim));
    put("llama.vocab_size", u32(c.vocab_size));
    put("llama.rope.dimension_count", u32(c.head_dim));
  }
  put("general.file_type", GgufValue::u32(gguf_file_type(opts.type)));
  put("general.quantization_version", GgufValue::u32(2));
  // The tokenizer, padded to the model's vocabulary as llama.cpp's converter pads it.
  auto texts = tok.token_texts();
  std::vector<int32_t> types(texts.size(), 1);
  for (size_t id = 0; id < texts.size(); ++id)
    if (tok.is_special(static_cast<int32_t>(id))) types[id] = 3;
  for (size_t id = texts.size(); id < static_cast<size_t>(c.vocab_size); ++id) {
    texts.push_back(fmt::format("[PAD{}]", id));
    types.push_back(4);
  }
  for (size_t id = 0; id < texts.size(); ++id)
    if (texts[id].empty()) {  // a gap in the ids
      texts[id] = fmt::format("[PAD{}]", id);
      types[id] = 4;
    }
  put("tokenizer.ggml.model", GgufValue::str("gpt2"));
  put("tokenizer.ggml.pre", GgufValue::str("gpt-2"));
  put("tokenizer.ggml.tokens", GgufValue::strings(texts));
  put("tokenizer.ggml.token_type", GgufValue::i32s(types));
  put("tokenizer.ggml.merges", GgufValue::strings(tok.merge_texts()));
  if (c.bos_id >= 0) put("tokenizer.ggml.bos_token_id", u32(c.bos_id));
  if (c.eos_id >= 0) put("tokenizer.ggml.eos_token_id", u32(c.eos_id));
  put("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  if (!opts.chat_template.empty())
    put("tokenizer.chat_template", GgufValue::str(opts.chat_template));

  if (!hf.linear_layout())
    throw std::logic_error("write_gguf_model: projections must be held [out, in] (GGUF's layout)");
  std::vector<GgufTensorToWrite> out;
  for (const auto& m : tensor_map(c)) {
    const TensorView* v = hf.find(m.hf);
    if (!v && m.hf.rfind("transformer.", 0) == 0) v = hf.find(m.hf.substr(12));
    if (!v) continue;  // biases a Llama has not, lm_head when tied
    if (v->dtype != DType::F32 && v->dtype != DType::F16 && v->dtype != DType::BF16)
      throw runtime_error(fmt::format("tensor '{}' is {}; exporting needs F32, F16 or BF16 weights",
                                      m.hf, dtype_name(v->dtype)));
    std::vector<float> x(static_cast<size_t>(v->numel()));
    GgmlType src = v->dtype == DType::F32   ? GgmlType::F32
                   : v->dtype == DType::F16 ? GgmlType::F16
                                            : GgmlType::BF16;
    ggml_decode(src, static_cast<const uint8_t*>(v->data), v->numel(), x.data());
    auto shape = v->shape;
    if (m.heads > 0) {
      int64_t rows = shape[0];
      size_t row_bytes = x.size() / static_cast<size_t>(rows) * sizeof(float);
      auto p =
          permute_rows(reinterpret_cast<const uint8_t*>(x.data()), rows, row_bytes, m.heads, true);
      std::memcpy(x.data(), p.data(), p.size());
    }
    // convert_hf_to_gguf.py: 1-D tensors, norms and position embeddings stay F32; a row that
    // Q8_0 cannot block falls back to F16.
    GgmlType type = opts.type;
    if (shape.size() < 2 || m.gguf.find("_norm") != std::string::npos ||
        m.gguf == "position_embd.weight")
      type = GgmlType::F32;
    if (type == GgmlType::Q8_0 && shape.back() % 32 != 0) type = GgmlType::F16;
    out.push_back(
        {m.gguf, type, shape, ggml_encode(type, x.data(), static_cast<int64_t>(x.size()))});
  }
  write_gguf(path, kv, out);
}

}  // namespace xops
