#pragma once
// Where eval answers come from: a local model (path or artifact, optional LoRA adapter), an
// OpenAI-compatible HTTP endpoint, or `exec:` a command.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/eval/suite.hpp"

namespace xops {

class Workspace;

struct ProviderCall {
  std::string output;
  double latency_ms = 0;
  std::string error;  // non-empty: the provider failed (an eval error, not a failed test)
};

class Provider {
 public:
  virtual ~Provider() = default;
  const std::string& label() const { return label_; }
  // Everything that can change the answer (model content hash, config, sampling, seed, the
  // content of files a command names); "" when that cannot be known (never cached then).
  virtual std::string identity() = 0;
  virtual ProviderCall call(const std::string& prompt) = 0;
  // With promptfoo's call context ({vars, prompt, test}); only providers that pass it on
  // (exec:) override this and say so in uses_context() (their answers are cached per vars).
  virtual ProviderCall call_in(const std::string& prompt, const nlohmann::json& /*context*/) {
    return call(prompt);
  }
  virtual bool uses_context() const { return false; }
  virtual std::vector<float> embed(const std::string& text);  // throws when unsupported
  virtual std::optional<double> perplexity(const std::string& /*prompt*/,
                                           const std::string& /*output*/) {
    return std::nullopt;
  }
  // Content hashes this provider evaluates (model files, adapter), for lineage.
  virtual std::map<std::string, std::string> content_hashes() { return {}; }

 protected:
  std::string label_;
};

// Hosts the user (not the suite) named as allowed to receive an API key taken from the
// environment: entries "host", "host:port" or "scheme://host[:port]". https://api.openai.com
// and the origin of $OPENAI_BASE_URL are always allowed; a key written in the suite's own
// config.apiKey goes to the suite's own endpoint.
using KeyHosts = std::vector<std::string>;

std::unique_ptr<Provider> make_provider(const ProviderSpec& spec, const Workspace* ws,
                                        const std::filesystem::path& suite_dir,
                                        const KeyHosts& key_hosts = {});
// True when an environment API key may be sent to `url`.
bool key_host_allowed(const std::string& url, const KeyHosts& key_hosts);

}  // namespace xops
