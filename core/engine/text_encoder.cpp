#include "core/engine/text_encoder.hpp"

#include <fmt/format.h>

#include "core/engine/engine.hpp"
#include "core/model/encoder_config.hpp"

namespace xops {

namespace {

// A causal model as an encoder: the mean of its final hidden states (LanguageModel::embed).
class CausalEncoder final : public TextEncoder {
 public:
  explicit CausalEncoder(std::unique_ptr<LanguageModel> m) : m_(std::move(m)) {}
  int dims() const override { return m_->config().d_model; }
  std::string describe() const override {
    const auto& c = m_->config();
    return fmt::format("{} {}x{}, mean of final hidden states, {} tokens", c.arch_name(), c.n_layer,
                       c.d_model, c.max_positions);
  }
  int max_tokens() const override { return m_->config().max_positions; }
  std::vector<int32_t> tokens(const std::string& text) const override {
    return m_->tokenizer().encode(text);
  }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const auto& t : texts) {
      auto ids = m_->tokenizer().encode(t);
      if (ids.size() > static_cast<size_t>(max_tokens()))
        ids.resize(static_cast<size_t>(max_tokens()));
      if (ids.empty()) ids.push_back(m_->config().eos_id >= 0 ? m_->config().eos_id : 0);
      out.push_back(m_->embed(ids));
    }
    return out;
  }

 private:
  std::unique_ptr<LanguageModel> m_;
};

}  // namespace

std::unique_ptr<TextEncoder> open_text_encoder(const std::filesystem::path& dir,
                                               const LoadOptions& opts) {
  if (is_encoder_dir(dir)) return engine().load_encoder(dir, opts);
  return std::make_unique<CausalEncoder>(engine().load(dir, opts));
}

}  // namespace xops
