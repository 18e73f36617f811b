#include "core/model/encoder_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_error.hpp"

namespace xops {

namespace {

constexpr uint64_t kMaxConfigBytes = 1 << 20;

nlohmann::json read_json(const std::filesystem::path& p) {
  try {
    return nlohmann::json::parse(read_file_limited(p, kMaxConfigBytes, "a model config"));
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid JSON: {}", p.string(), json_error(e)));
  }
}

int bounded(const nlohmann::json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi,
            const std::string& display) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback < 0) throw runtime_error(fmt::format("{}: missing '{}'", display, key));
    return static_cast<int>(fallback);
  }
  if (!j[key].is_number_integer())
    throw runtime_error(fmt::format("{}: '{}' must be an integer, found {}", display, key,
                                    j[key].dump().substr(0, 40)));
  auto v = j[key].is_number_unsigned() && j[key].get<uint64_t>() > INT64_MAX
               ? INT64_MAX
               : j[key].get<int64_t>();
  if (v < lo || v > hi)
    throw runtime_error(
        fmt::format("{}: '{}' is {}; it must be between {} and {}", display, key, v, lo, hi),
        "is this config.json corrupt or for another architecture?");
  return static_cast<int>(v);
}

bool names_bert(const nlohmann::json& j) {
  if (!j.is_object()) return false;
  if (j.value("model_type", "") == "bert") return true;
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"])
      if (a.is_string() && a.get<std::string>().rfind("Bert", 0) == 0) return true;
  return false;
}

}  // namespace

int64_t EncoderConfig::parameter_count() const {
  int64_t H = hidden, I = intermediate;
  int64_t per_layer = 4 * (H * H + H) + 2 * (H * I) + I + H + 4 * H;
  return (int64_t(vocab_size) + max_positions + type_vocab_size) * H + 2 * H + layers * per_layer;
}

std::string EncoderConfig::describe() const {
  return fmt::format("BertModel {}x{}, {} pooling{}, {} tokens", layers, hidden,
                     pooling == Pooling::Mean ? "mean" : "CLS", normalize ? ", normalised" : "",
                     max_tokens);
}

bool is_encoder_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "config.json", ec)) return false;
  try {
    return names_bert(nlohmann::json::parse(
        read_file_limited(dir / "config.json", kMaxConfigBytes, "a model config")));
  } catch (const std::exception&) {
    return false;
  }
}

EncoderConfig load_encoder_config(const std::filesystem::path& dir) {
  auto cfg_path = dir / "config.json";
  auto display = cfg_path.string();
  auto j = read_json(cfg_path);
  if (!names_bert(j))
    throw runtime_error(
        fmt::format("{}: not a BERT encoder (architectures {}, model_type {})", display,
                    j.value("architectures", nlohmann::json()).dump(),
                    j.value("model_type", nlohmann::json()).dump()),
        "xops embeds with BERT-family encoders (all-MiniLM, bge) or its causal models");
  EncoderConfig c;
  c.vocab_size = bounded(j, "vocab_size", -1, 1, 1 << 24, display);
  c.hidden = bounded(j, "hidden_size", -1, 1, 65536, display);
  c.layers = bounded(j, "num_hidden_layers", -1, 1, 1024, display);
  c.heads = bounded(j, "num_attention_heads", -1, 1, 1024, display);
  c.intermediate = bounded(j, "intermediate_size", 4ll * c.hidden, 1, 1 << 20, display);
  c.max_positions = bounded(j, "max_position_embeddings", 512, 1, 1 << 20, display);
  c.type_vocab_size = bounded(j, "type_vocab_size", 2, 1, 1024, display);
  if (c.hidden % c.heads != 0)
    throw runtime_error(
        fmt::format("{}: hidden_size {} is not a multiple of num_attention_heads {}", display,
                    c.hidden, c.heads));
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number() || !(j["layer_norm_eps"].get<double>() > 0))
      throw runtime_error(fmt::format("{}: 'layer_norm_eps' must be a positive number", display));
    c.norm_eps = j["layer_norm_eps"].get<double>();
  }
  c.activation = j.value("hidden_act", std::string("gelu"));
  if (c.activation != "gelu" && c.activation != "gelu_new" && c.activation != "relu")
    throw runtime_error(fmt::format("{}: hidden_act '{}' is not supported", display, c.activation),
                        "xops runs gelu, gelu_new and relu encoders");
  auto pos = j.value("position_embedding_type", std::string("absolute"));
  if (pos != "absolute")
    throw runtime_error(
        fmt::format("{}: position_embedding_type '{}' is not supported", display, pos),
        "xops runs encoders with absolute position embeddings");
  c.max_tokens = c.max_positions;

  // sentence-transformers: the modules in order, pooling, normalisation, the input length.
  std::error_code ec;
  if (std::filesystem::exists(dir / "modules.json", ec)) {
    auto mods = read_json(dir / "modules.json");
    auto mdisplay = (dir / "modules.json").string();
    if (!mods.is_array())
      throw runtime_error(fmt::format("{}: must be a list of modules", mdisplay));
    bool pooling_seen = false;
    for (size_t i = 0; i < mods.size(); ++i) {
      const auto& m = mods[i];
      auto type = m.is_object() ? m.value("type", std::string()) : std::string();
      auto short_type = type.substr(type.rfind('.') == std::string::npos ? 0 : type.rfind('.') + 1);
      if (short_type == "Transformer" && i == 0) continue;
      if (short_type == "Pooling" && !pooling_seen) {
        pooling_seen = true;
        auto path = m.value("path", std::string("1_Pooling"));
        if (path.find("..") != std::string::npos || (!path.empty() && path[0] == '/'))
          throw runtime_error(
              fmt::format("{}: module path '{}' leaves the model directory", mdisplay, path));
        auto pc_path = dir / path / "config.json";
        auto pc = read_json(pc_path);
        bool mean = pc.value("pooling_mode_mean_tokens", false),
             cls = pc.value("pooling_mode_cls_token", false);
        bool other = pc.value("pooling_mode_max_tokens", false) ||
                     pc.value("pooling_mode_mean_sqrt_len_tokens", false) ||
                     pc.value("pooling_mode_weightedmean_tokens", false) ||
                     pc.value("pooling_mode_lasttoken", false);
        if (mean + cls != 1 || other)
          throw runtime_error(
              fmt::format("{}: pooling must be exactly one of mean or CLS", pc_path.string()),
              "xops runs mean and CLS pooling; max, sqrt-length, weighted-mean and last-token are "
              "not");
        c.pooling = mean ? Pooling::Mean : Pooling::Cls;
        continue;
      }
      if (short_type == "Normalize" && pooling_seen && !c.normalize) {
        c.normalize = true;
        continue;
      }
      throw runtime_error(fmt::format("{}: module {} ({}) is not supported here", mdisplay, i,
                                      type.empty() ? "?" : type),
                          "xops runs Transformer -> Pooling (mean or CLS) -> Normalize");
    }
    if (!pooling_seen) throw runtime_error(fmt::format("{}: no Pooling module", mdisplay));
  }
  if (std::filesystem::exists(dir / "sentence_bert_config.json", ec)) {
    auto sb = read_json(dir / "sentence_bert_config.json");
    c.max_tokens =
        std::min(c.max_positions, bounded(sb, "max_seq_length", c.max_positions, 2, 1 << 20,
                                          (dir / "sentence_bert_config.json").string()));
  }
  return c;
}

}  // namespace xops
