#include "core/eval/providers.hpp"
#include "core/util/json_error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/engine/text_encoder.hpp"
#include "core/error.hpp"
#include "core/model/encoder_config.hpp"
#include "core/plugins/http.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/model_ref.hpp"
#include "core/store/pointer.hpp"
#include "core/store/sha256.hpp"
#include "core/util/interrupt.hpp"
#include "core/util/redact.hpp"
#include "core/util/subprocess.hpp"

namespace xops {

namespace {

using clk = std::chrono::steady_clock;
double ms_since(clk::time_point t) {
  return std::chrono::duration<double, std::milli>(clk::now() - t).count();
}

// Content hash of a model or adapter directory: the id of its manifest, so it equals the
// pointer hash `xops track add` gives the same tree (promotion gates match on it).
std::vector<std::string> stops_of(const nlohmann::json& c) {
  std::vector<std::string> out;
  if (c.contains("stop")) {
    if (c["stop"].is_string())
      out.push_back(c["stop"].get<std::string>());
    else
      for (const auto& s : c["stop"]) out.push_back(s.get<std::string>());
  }
  return out;
}

class LocalProvider final : public Provider {
 public:
  LocalProvider(const ProviderSpec& spec, const Workspace* ws) : cfg_(spec.config) {
    label_ = spec.label;
    // An adapter named as the model (tiny-gpt-dates#prod) brings its base.
    auto ma = resolve_model_or_adapter(spec.id, ws);
    dir_ = ma.model;
    adapter_ = ma.adapter;
    if (cfg_.contains("adapter")) {
      // A directory (relative to the project), an artifact, or a registry ref (NAME#prod).
      auto a = cfg_["adapter"].get<std::string>();
      std::filesystem::path rel = a;
      if (rel.is_relative() && ws && std::filesystem::is_directory(ws->root() / rel))
        adapter_ = ws->root() / rel;
      else
        adapter_ = resolve_model_ref(a, ws);
    }
    opts_.max_tokens = cfg_.value("max_tokens", 64);
    opts_.temperature = cfg_.value("temperature", 0.0);
    opts_.top_p = cfg_.value("top_p", 1.0);
    opts_.top_k = cfg_.value("top_k", 0);
    opts_.seed = cfg_.value("seed", 0);
    opts_.stop = stops_of(cfg_);
  }
  std::string identity() override {
    auto h = content_hashes();
    return "local:" + h["model"] + ":" + (h.count("adapter") ? h["adapter"] : "") + ":" +
           cfg_.dump();
  }
  std::map<std::string, std::string> content_hashes() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (hashes_.empty()) {
      hashes_["model"] = content_hash_of(dir_);
      if (!adapter_.empty()) hashes_["adapter"] = content_hash_of(adapter_);
    }
    return hashes_;
  }
  ProviderCall call(const std::string& prompt) override {
    std::lock_guard<std::mutex> lock(mu_);  // one model, one caller at a time
    auto& m = model();
    auto t0 = clk::now();
    auto ids = m.tokenizer().encode(prompt);
    // Ctrl-C stops this case at its next token rather than after the whole answer.
    auto g = generate(m, {ids}, opts_,
                      [](size_t, int32_t, const std::string&) { return !interrupt::requested(); });
    interrupt::check();
    return {g[0].text, ms_since(t0), ""};
  }
  std::vector<float> embed(const std::string& text) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (is_encoder_dir(dir_)) {  // a sentence encoder (BERT family): its pooled vector
      if (!encoder_) {
        LoadOptions lo;
        lo.device = cfg_.value("device", "auto");
        encoder_ = open_text_encoder(dir_, lo);
      }
      return encoder_->embed({text}).at(0);
    }
    auto& m = model();
    return m.embed(m.tokenizer().encode(text));
  }
  std::optional<double> perplexity(const std::string& prompt, const std::string& output) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& m = model();
    auto p = m.tokenizer().encode(prompt), o = m.tokenizer().encode(output);
    if (o.empty()) return std::nullopt;
    std::vector<int32_t> seq = p;
    seq.insert(seq.end(), o.begin(), o.end());
    auto logits = m.forward_logits({seq})[0];
    size_t V = static_cast<size_t>(m.config().vocab_size);
    double nll = 0;
    for (size_t i = p.size(); i < seq.size(); ++i) {
      if (i == 0) continue;
      const float* row = logits.data() + (i - 1) * V;
      double mx = *std::max_element(row, row + V), sum = 0;
      for (size_t k = 0; k < V; ++k) sum += std::exp(row[k] - mx);
      nll -= row[seq[i]] - mx - std::log(sum);
    }
    return std::exp(nll / static_cast<double>(o.size()));
  }

 private:
  LanguageModel& model() {
    if (!model_) {
      if (is_encoder_dir(dir_))
        throw usage_error(
            fmt::format("{} is a sentence encoder: it embeds text but cannot generate",
                        dir_.string()),
            "use it for `similar`, indexes and coverage (embedding:), and a generative model here");
      LoadOptions lo;
      lo.device = cfg_.value("device", "auto");
      lo.dtype = cfg_.value("dtype", "fp32");
      lo.adapter = adapter_;
      model_ = engine().load(dir_, lo);
    }
    return *model_;
  }
  nlohmann::json cfg_;
  std::filesystem::path dir_, adapter_;
  SamplingOptions opts_;
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<TextEncoder> encoder_;
  std::map<std::string, std::string> hashes_;
  std::mutex mu_;
};

// promptfoo's `echo`: the rendered prompt is the answer (for testing suites and templates).
// A chat prompt (promptfoo: a JSON list of {role, content}) is sent as those messages; any
// other prompt is one user message.
nlohmann::json chat_messages(const std::string& prompt) {
  if (!prompt.empty() && prompt.find_first_not_of(" \t\r\n") != std::string::npos &&
      prompt[prompt.find_first_not_of(" \t\r\n")] == '[') {
    try {
      auto j = nlohmann::json::parse(prompt);
      bool ok = j.is_array() && !j.empty();
      for (const auto& m : j)
        ok = ok && m.is_object() && m.contains("role") && m["role"].is_string() &&
             m.contains("content");
      if (ok) return j;
    } catch (const nlohmann::json::exception&) {
    }
  }
  return nlohmann::json::array({{{"role", "user"}, {"content", prompt}}});
}

class EchoProvider final : public Provider {
 public:
  explicit EchoProvider(const ProviderSpec& spec) { label_ = spec.label; }
  std::string identity() override { return "echo"; }
  ProviderCall call(const std::string& prompt) override { return {prompt, 0, ""}; }
};

class ExecProvider final : public Provider {
 public:
  ExecProvider(const ProviderSpec& spec, const std::filesystem::path& suite_dir)
      : cfg_(spec.config), dir_(suite_dir) {
    label_ = spec.label;
    cmd_ = spec.id.substr(5);
    cmd_.erase(0, cmd_.find_first_not_of(' '));
    timeout_ms_ = cfg_.value("timeout", 60000);
    // Plain words (no quotes, variables, globs, redirections, operators or assignments) need
    // no shell: run them directly, one process and no shell start-up per case.
    if (cmd_.find_first_of("$`|&;<>()*?[]{}~#!\\'\"\n=") == std::string::npos)
      direct_ = shell_words(cmd_);
  }
  // The command line, the config, and the content of every file the command names (relative
  // to the suite or absolute): editing the script invalidates its cached answers. A command
  // that names a directory (it may read anything there) or sets `cache: false` is not cached.
  std::string identity() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (identity_) return *identity_;
    std::string id = "exec:" + cmd_ + ":" + cfg_.dump();
    bool cacheable = !(cfg_.contains("cache") && cfg_["cache"] == false);
    for (auto token : shell_words(cmd_)) {
      if (token.empty() || token[0] == '-') continue;
      if (auto eq = token.find('='); eq != std::string::npos && token.find('/') > eq)
        token = token.substr(eq + 1);
      std::filesystem::path p = token;
      if (p.is_relative()) p = dir_ / p;
      std::error_code ec;
      auto st = std::filesystem::status(p, ec);
      if (std::filesystem::is_regular_file(st))
        id += "\x1f" + token + "=" + sha256_file(p);
      else if (std::filesystem::is_directory(st) && token != "." && token != "/")
        cacheable = false;
    }
    identity_ = cacheable ? id : "";
    return *identity_;
  }
  ProviderCall call(const std::string& prompt) override {
    return call_in(prompt, nlohmann::json::object());
  }
  bool uses_context() const override { return true; }
  ProviderCall call_in(const std::string& prompt, const nlohmann::json& context) override {
    // promptfoo's contract: the prompt is the first argument, then the options ({config}) and
    // the context ({vars, prompt, test}) as JSON; we also feed the prompt on stdin. stdout
    // (trimmed) is the answer.
    auto t0 = clk::now();
    nlohmann::json options = {{"config", cfg_}};
    ChildSpec spec;
    // Otherwise sh parses the command line; `exec` replaces it: one process per call.
    spec.argv = direct_.empty()
                    ? std::vector<std::string>{"/bin/sh", "-c", "exec " + cmd_ + " \"$@\"", "sh"}
                    : direct_;
    for (auto a : {prompt, options.dump(),
                   context.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)})
      spec.argv.push_back(std::move(a));
    spec.cwd = dir_.string();  // relative paths in the command are the suite's
    spec.input = prompt;
    spec.timeout_ms = std::max(1, timeout_ms_);
    spec.max_output = kDefaultMaxOutput;
    auto r = run_child(spec);
    ProviderCall c;
    c.latency_ms = ms_since(t0);
    if (r.timed_out) {
      c.error = fmt::format("exec provider timed out after {} ms", timeout_ms_);
    } else if (r.output_too_large) {
      c.error =
          fmt::format("exec provider printed more than {} bytes (the cap on a provider's output)",
                      kDefaultMaxOutput);
    } else if (r.exit_code != 0) {
      auto err = r.err.substr(0, 300);
      c.error =
          fmt::format("exec provider exited with {}{}", r.exit_code, err.empty() ? "" : ": " + err);
    } else {
      c.output = r.out;
      c.output.erase(c.output.find_last_not_of(" \n\r\t") + 1);
      c.output.erase(0, c.output.find_first_not_of(" \n\r\t") == std::string::npos
                            ? c.output.size()
                            : c.output.find_first_not_of(" \n\r\t"));
    }
    return c;
  }

 private:
  // Words of a command line as sh would split them (quotes removed; no expansion).
  static std::vector<std::string> shell_words(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    bool any = false;
    char q = 0;
    for (char c : s) {
      if (q) {
        if (c == q)
          q = 0;
        else
          cur += c;
      } else if (c == '\'' || c == '"') {
        q = c, any = true;
      } else if (c == ' ' || c == '\t' || c == '\n') {
        if (any || !cur.empty()) out.push_back(cur);
        cur.clear(), any = false;
      } else {
        cur += c;
      }
    }
    if (any || !cur.empty()) out.push_back(cur);
    return out;
  }
  nlohmann::json cfg_;
  std::filesystem::path dir_;
  std::string cmd_;
  std::vector<std::string> direct_;  // argv when the command needs no shell
  int timeout_ms_;
  std::mutex mu_;
  std::optional<std::string> identity_;
};

class OpenAIProvider final : public Provider {
 public:
  OpenAIProvider(const ProviderSpec& spec, const KeyHosts& key_hosts) : cfg_(spec.config) {
    label_ = spec.label;
    auto rest = spec.id.substr(7);  // after "openai:"
    auto colon = rest.find(':');
    kind_ = colon == std::string::npos ? "chat" : rest.substr(0, colon);
    model_ = colon == std::string::npos ? rest : rest.substr(colon + 1);
    if (kind_ != "chat" && kind_ != "completion" && kind_ != "embedding")
      throw usage_error(
          fmt::format("provider '{}': use openai:chat:MODEL, openai:completion:MODEL or "
                      "openai:embedding:MODEL",
                      spec.id));
    base_ = cfg_.value("apiBaseUrl", cfg_.value("base_url", ""));
    if (base_.empty())
      if (const char* e = std::getenv("OPENAI_BASE_URL"); e && *e) base_ = e;
    if (base_.empty()) base_ = "https://api.openai.com/v1";  // as promptfoo does
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
    // The suite may come from someone else's commit: it names the endpoint, so a key from
    // the environment goes only where the user allowed (see KeyHosts). The suite's own
    // config.apiKey is the suite author's to send.
    if (cfg_.contains("apiKey") && cfg_["apiKey"].is_string()) {
      key_ = cfg_["apiKey"].get<std::string>();
    } else {
      auto env = cfg_.contains("apiKeyEnvar") && cfg_["apiKeyEnvar"].is_string()
                     ? cfg_["apiKeyEnvar"].get<std::string>()
                     : std::string("OPENAI_API_KEY");
      if (const char* k = std::getenv(env.c_str()); k && *k) {
        if (key_host_allowed(base_, key_hosts))
          key_ = k;
        else
          withheld_ = env;
      }
    }
    timeout_ms_ = cfg_.value("timeout", 60000);
    retries_ = cfg_.value("retries", 3);
  }
  std::string identity() override {
    auto cfg = cfg_;
    cfg.erase("apiKey");  // the key decides nothing about the answer; keep it out of the cache
    return "openai:" + kind_ + ":" + model_ + "@" + base_ + ":" + cfg.dump();
  }
  ProviderCall call(const std::string& prompt) override {
    return call_in(prompt, nlohmann::json::object());
  }
  // A prompt's own config (promptfoo: prompts[].config) is merged over the provider's.
  ProviderCall call_in(const std::string& prompt, const nlohmann::json& context) override {
    auto cfg = cfg_;
    if (context.contains("prompt") && context["prompt"].contains("config") &&
        context["prompt"]["config"].is_object())
      for (auto& [k, v] : context["prompt"]["config"].items()) cfg[k] = v;
    nlohmann::json body = {{"model", model_}};
    for (const char* k : {"temperature", "max_tokens", "max_completion_tokens", "top_p", "seed",
                          "stop", "presence_penalty", "frequency_penalty", "response_format",
                          "tools", "tool_choice", "logprobs", "top_logprobs"})
      if (cfg.contains(k)) body[k] = cfg[k];
    std::string path;
    if (kind_ == "chat") {
      body["messages"] = chat_messages(prompt);
      path = "/chat/completions";
    } else {
      body["prompt"] = prompt;
      path = "/completions";
    }
    auto t0 = clk::now();
    auto r = post(path, body);
    ProviderCall c;
    c.latency_ms = ms_since(t0);
    if (!r.first.empty()) {
      c.error = r.first;
      return c;
    }
    try {
      const auto& choice = r.second.at("choices").at(0);
      c.output = kind_ == "chat" ? choice.at("message").at("content").get<std::string>()
                                 : choice.at("text").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      c.error = std::string("unexpected response shape: ") + json_error(e);
    }
    return c;
  }
  std::vector<float> embed(const std::string& text) override {
    auto r = post("/embeddings", {{"model", model_}, {"input", text}});
    if (!r.first.empty()) throw runtime_error(fmt::format("{}: {}", label_, r.first));
    return r.second.at("data").at(0).at("embedding").get<std::vector<float>>();
  }

 private:
  // POST with retries and exponential back-off on transport errors, 429 and 5xx.
  std::pair<std::string, nlohmann::json> post(const std::string& path, const nlohmann::json& body) {
    std::map<std::string, std::string> headers;
    if (!key_.empty()) headers["Authorization"] = "Bearer " + key_;
    std::string last;
    for (int attempt = 0; attempt <= retries_; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(250 << (attempt - 1)));
      auto r = http::client().post_json(
          base_ + path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          headers, timeout_ms_);
      if (r.status == 0) {
        last = redact(fmt::format("{}{}: {}", base_, path, r.error), {key_});
        continue;
      }
      if (r.status == 429 || r.status >= 500) {
        last = redact(fmt::format("{}{}: HTTP {}", base_, path, r.status), {key_});
        continue;
      }
      if (r.status != 200) {
        auto msg = fmt::format("{}{}: HTTP {}: {}", base_, path, r.status, r.body.substr(0, 300));
        if ((r.status == 401 || r.status == 403) && !withheld_.empty())
          msg += fmt::format(
              " ({} was not sent: {} is named only by the suite; allow it with "
              "`xops eval --key-host {}` or XOPS_KEY_HOSTS)",
              withheld_, url_origin(base_), url_origin(base_));
        return {redact(msg, {key_}), {}};
      }
      try {
        return {"", nlohmann::json::parse(r.body)};
      } catch (const nlohmann::json::exception&) {
        return {redact(fmt::format("{}{}: the response is not JSON", base_, path)), {}};
      }
    }
    return {last + fmt::format(" (after {} attempts)", retries_ + 1), {}};
  }
  nlohmann::json cfg_;
  std::string kind_, model_, base_, key_, withheld_;
  int timeout_ms_, retries_;
};

}  // namespace

std::vector<float> Provider::embed(const std::string&) {
  throw usage_error(fmt::format("provider '{}' cannot embed text", label_),
                    "use a local model or openai:embedding:MODEL for `similar`");
}

bool key_host_allowed(const std::string& url, const KeyHosts& key_hosts) {
  auto origin = url_origin(url);
  if (origin.empty()) return false;
  if (origin == "https://api.openai.com:443") return true;
  if (const char* e = std::getenv("OPENAI_BASE_URL"); e && url_origin(e) == origin) return true;
  auto host_port = origin.substr(origin.find("://") + 3);
  auto host = host_port.substr(0, host_port.rfind(':'));
  for (auto entry : key_hosts) {
    std::transform(entry.begin(), entry.end(), entry.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    while (!entry.empty() && entry.back() == '/') entry.pop_back();
    if (entry.empty()) continue;
    if (entry.find("://") != std::string::npos ? url_origin(entry) == origin
                                               : (entry == host_port || entry == host))
      return true;
  }
  return false;
}

std::unique_ptr<Provider> make_provider(const ProviderSpec& spec, const Workspace* ws,
                                        const std::filesystem::path& suite_dir,
                                        const KeyHosts& key_hosts) {
  if (spec.id == "echo") return std::make_unique<EchoProvider>(spec);
  if (spec.id.rfind("exec:", 0) == 0) return std::make_unique<ExecProvider>(spec, suite_dir);
  if (spec.id.rfind("openai:", 0) == 0) return std::make_unique<OpenAIProvider>(spec, key_hosts);
  return std::make_unique<LocalProvider>(spec, ws);
}

}  // namespace xops
