#include "core/app/embedders.hpp"

#include <fmt/format.h>

#include "core/engine/text_encoder.hpp"
#include "core/error.hpp"
#include "core/eval/providers.hpp"
#include "core/refs/resolve.hpp"
#include "core/store/pointer.hpp"

namespace xops::app {

namespace {

class LocalEmbedder final : public index::Embedder {
 public:
  LocalEmbedder(std::unique_ptr<TextEncoder> enc, std::string sha)
      : enc_(std::move(enc)), sha_(std::move(sha)) {}
  std::string describe() const override { return enc_->describe(); }
  std::string content_sha256() const override { return sha_; }
  std::string unit() const override { return "tokens"; }
  size_t count(std::string_view word) const override {
    return enc_->tokens(std::string(word)).size();
  }
  int max_tokens() const override { return enc_->max_tokens(); }
  int dims() const override { return enc_->dims(); }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    return enc_->embed(texts);
  }

 private:
  std::unique_ptr<TextEncoder> enc_;
  std::string sha_;
};

class ProviderEmbedder final : public index::Embedder {
 public:
  ProviderEmbedder(std::unique_ptr<Provider> p, std::string spec)
      : p_(std::move(p)), spec_(std::move(spec)) {}
  std::string describe() const override { return spec_; }
  std::string content_sha256() const override { return ""; }
  std::string unit() const override { return "words"; }
  size_t count(std::string_view) const override { return 1; }
  int max_tokens() const override { return 0; }
  int dims() const override { return 0; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const auto& t : texts) out.push_back(p_->embed(t));
    return out;
  }

 private:
  std::unique_ptr<Provider> p_;
  std::string spec_;
};

}  // namespace

bool is_provider_spec(const std::string& spec) {
  return spec.rfind("openai:", 0) == 0;
}

std::unique_ptr<index::Embedder> open_embedder(const std::string& spec, const Workspace* ws,
                                               int threads) {
  if (spec.empty())
    throw usage_error("no embedding model",
                      "--embedding MODEL_OR_REF (a sentence encoder such as all-MiniLM-L6-v2), "
                      "or openai:embedding:MODEL");
  if (is_provider_spec(spec)) {
    if (spec.rfind("openai:embedding:", 0) != 0)
      throw usage_error(fmt::format("'{}' is not an embedding provider", spec),
                        "use openai:embedding:MODEL");
    ProviderSpec ps;
    ps.id = spec;
    ps.label = spec;
    return std::make_unique<ProviderEmbedder>(make_provider(ps, ws, {}), spec);
  }
  auto t = refs::resolve_model(spec, ws);
  if (t.adapter)
    throw usage_error(fmt::format("'{}' is a LoRA adapter", spec),
                      "embed with a base model or a sentence encoder");
  LoadOptions o;
  o.threads = threads;
  auto sha = t.content_hash.empty() ? content_hash_of(t.path) : t.content_hash;
  return std::make_unique<LocalEmbedder>(open_text_encoder(t.path, o), sha);
}

}  // namespace xops::app
