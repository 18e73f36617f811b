#include "core/serve/chat_template.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/serve/openai_api.hpp"
#include "core/template/nunjucks.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {
std::string token_text(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key)) return "";
  const auto& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}
}  // namespace

std::string ChatTemplate::render(
    const std::vector<std::pair<std::string, std::string>>& messages) const {
  if (source.empty()) return render_chat(messages);
  nlohmann::json msgs = nlohmann::json::array();
  for (const auto& [role, content] : messages)
    msgs.push_back({{"role", role}, {"content", content}});
  return nunjucks::render(source,
                          {{"messages", msgs},
                           {"add_generation_prompt", true},
                           {"bos_token", bos_token},
                           {"eos_token", eos_token}},
                          "chat_template");
}

namespace {
// Tries a model's own template on a sample conversation; the built-in one with a note when
// our renderer cannot run it.
ChatTemplate try_template(const std::string& source, std::string bos, std::string eos) {
  ChatTemplate t;
  ChatTemplate candidate;
  candidate.source = source;
  candidate.bos_token = std::move(bos);
  candidate.eos_token = std::move(eos);
  try {
    nunjucks::check(source, "chat_template");
    auto sample =
        candidate.render({{"system", "S"}, {"user", "U"}, {"assistant", "A"}, {"user", "V"}});
    if (sample.find('U') == std::string::npos || sample.find('V') == std::string::npos)
      throw runtime_error("it drops the messages' content");
  } catch (const Error& e) {
    t.note =
        std::string("its chat_template is beyond the Jinja subset xops renders (") + e.what() + ")";
    return t;
  }
  return candidate;
}

// GGUF keeps the template in tokenizer.chat_template and the special tokens by id.
ChatTemplate load_gguf_chat_template(const std::filesystem::path& file) {
  auto f = GgufFile::open(file);
  auto source = f->get_string("tokenizer.chat_template").value_or("");
  if (source.empty() || source == kBuiltinChatJinja) return {};
  auto token = [&](const char* key) -> std::string {
    auto id = f->get_uint(key);
    const auto* tokens = f->find("tokenizer.ggml.tokens");
    if (!id || !tokens || *id >= tokens->arr.size()) return "";
    return tokens->arr[*id].s;
  };
  return try_template(source, token("tokenizer.ggml.bos_token_id"),
                      token("tokenizer.ggml.eos_token_id"));
}
}  // namespace

ChatTemplate load_chat_template(const std::filesystem::path& model_dir) {
  if (is_gguf_file(model_dir)) return load_gguf_chat_template(model_dir);
  ChatTemplate t;
  auto path = model_dir / "tokenizer_config.json";
  if (!std::filesystem::is_regular_file(path)) return t;
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(read_file_limited(path, 16u << 20, "a tokenizer_config.json"));
  } catch (const std::exception& e) {
    t.note = std::string("tokenizer_config.json is not readable JSON: ") + e.what();
    return t;
  }
  if (!cfg.is_object() || !cfg.contains("chat_template")) return t;
  std::string source;
  const auto& ct = cfg["chat_template"];
  if (ct.is_string()) {
    source = ct.get<std::string>();
  } else if (ct.is_array()) {  // [{name, template}]: the one named "default"
    for (const auto& e : ct)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
          e["template"].is_string())
        source = e["template"].get<std::string>();
  }
  if (source.empty()) {
    t.note = "its chat_template has no default entry";
    return t;
  }
  return try_template(source, token_text(cfg, "bos_token"), token_text(cfg, "eos_token"));
}

}  // namespace xops
