#include "core/model/model_config.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {
int get_int(const nlohmann::json& j, std::initializer_list<const char*> keys, int fallback,
            const std::string& display) {
  for (const char* k : keys) {
    if (!j.contains(k) || j[k].is_null()) continue;
    if (!j[k].is_number_integer())
      throw runtime_error(fmt::format("{}: '{}' must be an integer", display, k));
    return j[k].get<int>();
  }
  if (fallback < 0)
    throw runtime_error(fmt::format("{}: missing '{}'", display, *keys.begin()));
  return fallback;
}

int first_id(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return -1;
  if (j[key].is_array()) return j[key].empty() ? -1 : j[key][0].get<int>();
  return j[key].get<int>();
}
}  // namespace

int64_t ModelConfig::parameter_count() const {
  int64_t d = d_model, v = vocab_size, l = n_layer, kv = static_cast<int64_t>(n_kv_head) * head_dim;
  int64_t per_layer;
  if (arch == Arch::Gpt2) {
    per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * d_ff + d_ff) + (d_ff * d + d);
    return v * d + static_cast<int64_t>(max_positions) * d + l * per_layer + 2 * d + (tie_embeddings ? 0 : v * d);
  }
  per_layer = 2 * d + d * d + 2 * d * kv + d * d + 3 * d * d_ff;
  return v * d + l * per_layer + d + (tie_embeddings ? 0 : v * d);
}

ModelConfig parse_model_config(const std::string& text, const std::string& display) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid JSON: {}", display, e.what()));
  }
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    arch = j["architectures"][0].get<std::string>();
  else if (j.value("model_type", "") == "gpt2")
    arch = "GPT2LMHeadModel";
  else if (j.value("model_type", "") == "llama")
    arch = "LlamaForCausalLM";
  ModelConfig c;
  if (arch == "GPT2LMHeadModel") {
    c.arch = Arch::Gpt2;
    c.d_model = get_int(j, {"n_embd", "hidden_size"}, -1, display);
    c.n_layer = get_int(j, {"n_layer", "num_hidden_layers"}, -1, display);
    c.n_head = get_int(j, {"n_head", "num_attention_heads"}, -1, display);
    c.n_kv_head = c.n_head;
    c.d_ff = get_int(j, {"n_inner"}, 4 * c.d_model, display);
    c.max_positions = get_int(j, {"n_positions", "n_ctx"}, 1024, display);
    c.norm_eps = j.value("layer_norm_epsilon", 1e-5);
    c.tie_embeddings = j.value("tie_word_embeddings", true);
    auto act = j.value("activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh")
      throw runtime_error(fmt::format("{}: activation '{}' is not supported", display, act),
                          "xops implements GPT-2's tanh GELU (gelu_new)");
  } else if (arch == "LlamaForCausalLM") {
    c.arch = Arch::Llama;
    c.d_model = get_int(j, {"hidden_size"}, -1, display);
    c.n_layer = get_int(j, {"num_hidden_layers"}, -1, display);
    c.n_head = get_int(j, {"num_attention_heads"}, -1, display);
    c.n_kv_head = get_int(j, {"num_key_value_heads"}, c.n_head, display);
    c.d_ff = get_int(j, {"intermediate_size"}, -1, display);
    c.max_positions = get_int(j, {"max_position_embeddings"}, 2048, display);
    c.norm_eps = j.value("rms_norm_eps", 1e-6);
    c.rope_theta = j.value("rope_theta", 10000.0);
    c.tie_embeddings = j.value("tie_word_embeddings", false);
    c.attention_bias = j.value("attention_bias", false);
    c.mlp_bias = j.value("mlp_bias", false);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
      throw runtime_error(fmt::format("{}: rope_scaling is not supported yet", display));
    auto act = j.value("hidden_act", "silu");
    if (act != "silu") throw runtime_error(fmt::format("{}: hidden_act '{}' is not supported", display, act));
  } else {
    throw runtime_error(fmt::format("{}: architecture '{}' is not supported", display, arch.empty() ? "(none)" : arch),
                        "xops runs GPT2LMHeadModel and LlamaForCausalLM");
  }
  c.vocab_size = get_int(j, {"vocab_size"}, -1, display);
  c.head_dim = get_int(j, {"head_dim"}, c.n_head > 0 ? c.d_model / c.n_head : 0, display);
  c.bos_id = first_id(j, "bos_token_id");
  c.eos_id = first_id(j, "eos_token_id");
  if (c.n_head <= 0 || c.n_kv_head <= 0 || c.n_head % c.n_kv_head != 0)
    throw runtime_error(fmt::format("{}: heads ({}) must be a positive multiple of KV heads ({})", display, c.n_head, c.n_kv_head));
  if (c.arch == Arch::Gpt2 && c.head_dim * c.n_head != c.d_model)
    throw runtime_error(fmt::format("{}: n_embd {} is not divisible by n_head {}", display, c.d_model, c.n_head));
  if (c.vocab_size <= 0 || c.n_layer <= 0 || c.d_model <= 0)
    throw runtime_error(fmt::format("{}: vocab_size, layers and width must be positive", display));
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& dir) {
  auto p = dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::exists(p, ec))
    throw precondition_error(fmt::format("{} has no config.json", dir.string()),
                             "point at a Hugging Face model directory (config.json, model.safetensors, tokenizer)");
  return parse_model_config(read_file(p), p.string());
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

}  // namespace xops
