#include "core/model/model_config.hpp"
#include "core/util/json_error.hpp"

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>

#include "core/error.hpp"
#include "core/model/gguf_model.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {
// Every size is bounded before anything is allocated by it: far above real models (Llama-3
// 405B: 126 layers, width 16384, FFN 53248, vocab 128256), far below what overflows.
struct Bound {
  int64_t min, max;
};
constexpr Bound kLayers{1, 1024}, kWidth{1, 65536}, kHeads{1, 1024}, kFfn{1, 1 << 20}, kPositions{1, 1 << 24},
    kVocab{1, 1 << 24}, kHeadDim{1, 4096};

int get_int(const nlohmann::json& j, std::initializer_list<const char*> keys, int64_t fallback,
            const std::string& display, Bound b) {
  for (const char* k : keys) {
    if (!j.contains(k) || j[k].is_null()) continue;
    if (!j[k].is_number_integer())
      throw runtime_error(fmt::format("{}: '{}' must be an integer, found {}", display, k, j[k].dump().substr(0, 40)));
    // Read as 64 bits: `n_embd: 4294967328` once wrapped silently to 32.
    int64_t v = j[k].is_number_unsigned() && j[k].get<uint64_t>() > INT64_MAX ? INT64_MAX : j[k].get<int64_t>();
    if (v < b.min || v > b.max)
      throw runtime_error(fmt::format("{}: '{}' is {}; it must be between {} and {}", display, k, v, b.min, b.max),
                          "is this config.json corrupt or for another architecture?");
    return static_cast<int>(v);
  }
  if (fallback < 0) throw runtime_error(fmt::format("{}: missing '{}'", display, *keys.begin()));
  if (fallback < b.min || fallback > b.max)
    throw runtime_error(fmt::format("{}: the default '{}' ({}) is out of range: set it explicitly", display,
                                    *keys.begin(), fallback));
  return static_cast<int>(fallback);
}

double get_num(const nlohmann::json& j, const char* key, double fallback, const std::string& display,
               bool positive) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) throw runtime_error(fmt::format("{}: '{}' must be a number", display, key));
  double v = j[key].get<double>();
  if (!std::isfinite(v) || (positive && v <= 0))
    throw runtime_error(fmt::format("{}: '{}' must be a {}finite number, found {}", display, key,
                                    positive ? "positive " : "", v));
  return v;
}

bool get_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& display) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) throw runtime_error(fmt::format("{}: '{}' must be true or false", display, key));
  return j[key].get<bool>();
}

std::string get_str(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& display) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string()) throw runtime_error(fmt::format("{}: '{}' must be a string", display, key));
  return j[key].get<std::string>();
}

int first_id(const nlohmann::json& j, const char* key, const std::string& display) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  const auto& v = j[key].is_array() ? (j[key].empty() ? nlohmann::json() : j[key][0]) : j[key];
  if (v.is_null()) return -1;
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kVocab.max)
    throw runtime_error(fmt::format("{}: '{}' must be a token id (a non-negative integer)", display, key));
  return static_cast<int>(v.get<int64_t>());
}
}  // namespace

int64_t ModelConfig::parameter_count() const {
  int64_t d = d_model, v = vocab_size, l = n_layer, kv = static_cast<int64_t>(n_kv_head) * head_dim;
  int64_t per_layer;
  if (arch == Arch::Gpt2) {
    per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d);
    return v * d + static_cast<int64_t>(max_positions) * d + l * per_layer + 2 * d + (tie_embeddings ? 0 : v * d);
  }
  int64_t h = static_cast<int64_t>(n_head) * head_dim;
  per_layer = 2 * d + 2 * d * h + 2 * d * kv + 3 * d * d_ff;  // biases left out: a lower bound
  return v * d + l * per_layer + d + (tie_embeddings ? 0 : v * d);
}

ModelConfig parse_model_config(const std::string& text, const std::string& display) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid JSON: {}", display, json_error(e)));
  }
  if (!j.is_object()) throw runtime_error(fmt::format("{}: not a JSON object", display));
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    arch = j["architectures"][0].get<std::string>();
  else if (get_str(j, "model_type", "", display) == "gpt2")
    arch = "GPT2LMHeadModel";
  else if (get_str(j, "model_type", "", display) == "llama")
    arch = "LlamaForCausalLM";
  ModelConfig c;
  if (arch == "GPT2LMHeadModel") {
    c.arch = Arch::Gpt2;
    c.d_model = get_int(j, {"n_embd", "hidden_size"}, -1, display, kWidth);
    c.n_layer = get_int(j, {"n_layer", "num_hidden_layers"}, -1, display, kLayers);
    c.n_head = get_int(j, {"n_head", "num_attention_heads"}, -1, display, kHeads);
    c.n_kv_head = c.n_head;
    c.d_ff = get_int(j, {"n_inner"}, 4 * int64_t{c.d_model}, display, kFfn);
    c.max_positions = get_int(j, {"n_positions", "n_ctx"}, 1024, display, kPositions);
    c.norm_eps = get_num(j, "layer_norm_epsilon", 1e-5, display, true);
    c.tie_embeddings = get_bool(j, "tie_word_embeddings", true, display);
    auto act = get_str(j, "activation_function", "gelu_new", display);
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      throw runtime_error(fmt::format("{}: activation '{}' is not supported", display, act),
                          "xops implements GPT-2's tanh GELU (gelu_new)");
  } else if (arch == "LlamaForCausalLM") {
    c.arch = Arch::Llama;
    c.d_model = get_int(j, {"hidden_size"}, -1, display, kWidth);
    c.n_layer = get_int(j, {"num_hidden_layers"}, -1, display, kLayers);
    c.n_head = get_int(j, {"num_attention_heads"}, -1, display, kHeads);
    c.n_kv_head = get_int(j, {"num_key_value_heads"}, c.n_head, display, kHeads);
    c.d_ff = get_int(j, {"intermediate_size"}, -1, display, kFfn);
    c.max_positions = get_int(j, {"max_position_embeddings"}, 2048, display, kPositions);
    c.norm_eps = get_num(j, "rms_norm_eps", 1e-6, display, true);
    c.rope_theta = get_num(j, "rope_theta", 10000.0, display, true);
    c.tie_embeddings = get_bool(j, "tie_word_embeddings", false, display);
    c.attention_bias = get_bool(j, "attention_bias", false, display);
    c.mlp_bias = get_bool(j, "mlp_bias", false, display);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
      throw runtime_error(fmt::format("{}: rope_scaling is not supported yet", display));
    auto act = get_str(j, "hidden_act", "silu", display);
    if (act != "silu") throw runtime_error(fmt::format("{}: hidden_act '{}' is not supported", display, act));
  } else {
    throw runtime_error(fmt::format("{}: architecture '{}' is not supported", display, arch.empty() ? "(none)" : arch),
                        "xops runs GPT2LMHeadModel and LlamaForCausalLM");
  }
  c.vocab_size = get_int(j, {"vocab_size"}, -1, display, kVocab);
  if (c.n_head <= 0 || c.n_kv_head <= 0 || c.n_head % c.n_kv_head != 0)
    throw runtime_error(fmt::format("{}: heads ({}) must be a positive multiple of KV heads ({})", display, c.n_head, c.n_kv_head));
  c.head_dim = get_int(j, {"head_dim"}, c.d_model / c.n_head, display, kHeadDim);
  c.bos_id = first_id(j, "bos_token_id", display);
  c.eos_id = first_id(j, "eos_token_id", display);
  if (c.arch == Arch::Gpt2 && c.head_dim * c.n_head != c.d_model)
    throw runtime_error(fmt::format("{}: n_embd {} is not divisible by n_head {}", display, c.d_model, c.n_head));
  if (c.arch == Arch::Llama && c.head_dim % 2 != 0)
    throw runtime_error(fmt::format("{}: head_dim {} must be even (rotary embeddings rotate pairs)", display, c.head_dim));
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  if (is_gguf_file(dir)) return gguf_model_config(*GgufFile::open(dir));
  auto p = dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::exists(p, ec))
    throw precondition_error(fmt::format("{} has no config.json", dir.string()),
                             "point at a Hugging Face model directory (config.json, model.safetensors, tokenizer)");
  return parse_model_config(read_file_limited(p, 16 << 20, "a config.json"), p.string());
}

std::string render_model_config(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.arch_name()};
  if (c.arch == Arch::Gpt2) {
    j["model_type"] = "gpt2";
    j["activation_function"] = "gelu_new";
    j["n_embd"] = c.d_model;
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_inner"] = c.d_ff;
    j["n_positions"] = c.max_positions;
    j["n_ctx"] = c.max_positions;
    j["layer_norm_epsilon"] = c.norm_eps;
    j["attn_pdrop"] = 0.0;
    j["embd_pdrop"] = 0.0;
    j["resid_pdrop"] = 0.0;
    j["scale_attn_weights"] = true;
  } else {
    j["model_type"] = "llama";
    j["hidden_act"] = "silu";
    j["hidden_size"] = c.d_model;
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["num_key_value_heads"] = c.n_kv_head;
    j["head_dim"] = c.head_dim;
    j["intermediate_size"] = c.d_ff;
    j["max_position_embeddings"] = c.max_positions;
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["rope_scaling"] = nullptr;
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.tie_embeddings;
  if (c.bos_id >= 0) j["bos_token_id"] = c.bos_id;
  if (c.eos_id >= 0) j["eos_token_id"] = c.eos_id;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

std::vector<std::string> default_lora_targets(const ModelConfig& c) {
  if (c.arch == Arch::Gpt2) return {"c_attn"};
  return {"q_proj", "v_proj"};
}

}  // namespace xops
