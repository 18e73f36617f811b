// BertModel's forward (Hugging Face's modeling_bert: post-LayerNorm, absolute positions,
// token type 0) followed by sentence-transformers' pooling and normalisation.
#include "core/torch/bert_encoder.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "core/model/encoder_config.hpp"
#include "core/model/safetensors.hpp"
#include "core/model/wordpiece.hpp"
#include "core/torch/guarded.hpp"
#include "core/torch/torch_model.hpp"
#include "core/torch/transformer.hpp"

namespace xops {

namespace {

constexpr size_t kBatch = 32;  // sequences per forward: memory is bounded by this, not the input

struct Linear {
  at::Tensor w, b;  // [out, in], [out]
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, w, b); }
};
struct Norm {
  at::Tensor w, b;
};
struct BertLayer {
  Linear q, k, v, o, up, down;
  Norm attn_norm, out_norm;
};

class BertEncoder final : public TextEncoder {
 public:
  BertEncoder(EncoderConfig c, WordPieceTokenizer tok, at::Device dev, at::ScalarType dt)
      : c_(std::move(c)), tok_(std::move(tok)), dev_(dev), dt_(dt) {}

  void load(const Checkpoint& ckpt) {
    // The "bert." prefix of BertForMaskedLM / BertForSequenceClassification checkpoints.
    std::string prefix = ckpt.find("embeddings.word_embeddings.weight") ? "" : "bert.";
    auto opts = at::TensorOptions().dtype(dt_).device(dev_);
    auto get = [&](const std::string& name, std::vector<int64_t> shape) {
      const TensorView* v = ckpt.find(prefix + name);
      if (!v)
        throw runtime_error(fmt::format("checkpoint lacks tensor '{}{}'", prefix, name),
                            "the weights do not match config.json's architecture");
      if (v->shape != shape)
        throw runtime_error(fmt::format("tensor '{}{}' has shape [{}] but config.json implies [{}]",
                                        prefix, name, fmt::join(v->shape, ", "),
                                        fmt::join(shape, ", ")));
      return at::from_blob(const_cast<void*>(v->data), v->shape,
                           at::TensorOptions().dtype(scalar_type(v->dtype)))
          .to(opts, /*non_blocking=*/false, /*copy=*/true);
    };
    int64_t H = c_.hidden, I = c_.intermediate;
    auto lin = [&](const std::string& n, int64_t out, int64_t in) {
      return Linear{get(n + ".weight", {out, in}), get(n + ".bias", {out})};
    };
    auto norm = [&](const std::string& n) {
      return Norm{get(n + ".weight", {H}), get(n + ".bias", {H})};
    };
    word_ = get("embeddings.word_embeddings.weight", {c_.vocab_size, H});
    pos_ = get("embeddings.position_embeddings.weight", {c_.max_positions, H});
    type_ = get("embeddings.token_type_embeddings.weight", {c_.type_vocab_size, H});
    emb_norm_ = norm("embeddings.LayerNorm");
    for (int i = 0; i < c_.layers; ++i) {
      auto p = "encoder.layer." + std::to_string(i) + ".";
      BertLayer L;
      L.q = lin(p + "attention.self.query", H, H);
      L.k = lin(p + "attention.self.key", H, H);
      L.v = lin(p + "attention.self.value", H, H);
      L.o = lin(p + "attention.output.dense", H, H);
      L.attn_norm = norm(p + "attention.output.LayerNorm");
      L.up = lin(p + "intermediate.dense", I, H);
      L.down = lin(p + "output.dense", H, I);
      L.out_norm = norm(p + "output.LayerNorm");
      layers_.push_back(std::move(L));
    }
    if (tok_.vocab_size() > static_cast<size_t>(c_.vocab_size))
      throw runtime_error(fmt::format("the tokenizer has {} tokens but the model only {}",
                                      tok_.vocab_size(), c_.vocab_size));
  }

  int dims() const override { return c_.hidden; }
  std::string describe() const override { return c_.describe(); }
  int max_tokens() const override { return c_.max_tokens; }
  std::vector<int32_t> tokens(const std::string& text) const override {
    auto ids = tok_.encode(text);
    // Without [CLS] and [SEP]: the text's own tokens.
    if (ids.size() >= 2) ids = std::vector<int32_t>(ids.begin() + 1, ids.end() - 1);
    return ids;
  }

  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override {
    return guarded("embedding", [&] { return embed_impl(texts); });
  }

 private:
  std::vector<std::vector<float>> embed_impl(const std::vector<std::string>& texts) {
    at::NoGradGuard no_grad;
    std::vector<std::vector<int32_t>> ids;
    ids.reserve(texts.size());
    for (const auto& t : texts) ids.push_back(tok_.encode(t, static_cast<size_t>(c_.max_tokens)));
    // Similar lengths together: less padding per batch.
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
    std::vector<std::vector<float>> out(texts.size());
    for (size_t start = 0; start < order.size(); start += kBatch) {
      size_t n = std::min(kBatch, order.size() - start);
      int64_t T = 1;
      for (size_t i = 0; i < n; ++i)
        T = std::max<int64_t>(T, static_cast<int64_t>(ids[order[start + i]].size()));
      auto idt = at::full({static_cast<int64_t>(n), T}, tok_.pad_id(), at::kLong);
      auto mask = at::zeros({static_cast<int64_t>(n), T}, at::kFloat);
      auto ia = idt.accessor<int64_t, 2>();
      auto ma = mask.accessor<float, 2>();
      for (size_t i = 0; i < n; ++i) {
        const auto& s = ids[order[start + i]];
        for (size_t j = 0; j < s.size(); ++j) {
          ia[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = s[j];
          ma[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = 1.f;
        }
      }
      auto pooled = forward(idt.to(dev_), mask.to(dev_)).to(at::kFloat).to(at::kCPU).contiguous();
      int64_t D = pooled.size(1);
      for (size_t i = 0; i < n; ++i) {
        const float* p = pooled.data_ptr<float>() + static_cast<int64_t>(i) * D;
        out[order[start + i]].assign(p, p + D);
      }
    }
    return out;
  }

  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) {
    int64_t B = ids.size(0), T = ids.size(1), H = c_.hidden, nh = c_.heads, hd = H / nh;
    auto x = at::embedding(word_, ids) + pos_.slice(0, 0, T).unsqueeze(0) + type_[0];
    x = at::layer_norm(x, {H}, emb_norm_.w, emb_norm_.b, c_.norm_eps);
    // Padding keys get a large negative score (HF: the dtype's lowest value).
    auto bias = ((1.0 - mask) * -1e30).to(x.scalar_type()).view({B, 1, 1, T});
    double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (const auto& L : layers_) {
      auto heads = [&](const Linear& p) { return p(x).view({B, T, nh, hd}).transpose(1, 2); };
      auto q = heads(L.q), k = heads(L.k), v = heads(L.v);
      auto scores = at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale + bias, -1);
      auto a = at::matmul(scores, v).transpose(1, 2).reshape({B, T, H});
      x = at::layer_norm(L.o(a) + x, {H}, L.attn_norm.w, L.attn_norm.b, c_.norm_eps);
      auto h = L.up(x);
      h = c_.activation == "relu" ? at::relu(h)
                                  : at::gelu(h, c_.activation == "gelu_new" ? "tanh" : "none");
      x = at::layer_norm(L.down(h) + x, {H}, L.out_norm.w, L.out_norm.b, c_.norm_eps);
    }
    at::Tensor pooled;
    if (c_.pooling == Pooling::Cls) {
      pooled = x.select(1, 0);
    } else {
      auto m = mask.to(x.scalar_type()).unsqueeze(-1);
      pooled = (x * m).sum(1) / m.sum(1).clamp_min(1e-9);
    }
    if (c_.normalize) pooled = pooled / pooled.norm(2, {-1}, true).clamp_min(1e-12);
    return pooled;
  }

  EncoderConfig c_;
  WordPieceTokenizer tok_;
  at::Device dev_;
  at::ScalarType dt_;
  at::Tensor word_, pos_, type_;
  Norm emb_norm_;
  std::vector<BertLayer> layers_;
};

}  // namespace

std::unique_ptr<TextEncoder> load_bert_encoder(const std::filesystem::path& dir,
                                               const LoadOptions& opts) {
  configure_threads(opts.threads);
  auto cfg = load_encoder_config(dir);
  auto tok = WordPieceTokenizer::load(dir);
  auto dev = resolve_device(opts.device);
  auto dt = resolve_dtype(opts.dtype, dev);
  auto ckpt = Checkpoint::open(dir);
  auto enc = std::make_unique<BertEncoder>(std::move(cfg), std::move(tok), dev, dt);
  enc->load(ckpt);
  return enc;
}

}  // namespace xops
