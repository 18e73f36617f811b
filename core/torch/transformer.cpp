#include "core/torch/transformer.hpp"

#include <torch/torch.h>

#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/fast_gelu.hpp"
#include "core/torch/q8_gemm.hpp"
#include "core/torch/weight_arena.hpp"

namespace xops {

at::Tensor q8_linear(const Q8Weight& w, const at::Tensor& b, const at::Tensor& x) {
  // Decode calls this ~85 times a step: no LibTorch op (each a dispatch) when x already is
  // fp32 [M, K] and contiguous, as it is there.
  const bool plain = x.dim() == 2 && x.scalar_type() == at::kFloat && x.is_contiguous();
  auto x2 = plain ? x : x.reshape({-1, w.in()}).to(at::kFloat).contiguous();
  auto bf = !b.defined() || (b.scalar_type() == at::kFloat && b.is_contiguous())
                ? b
                : b.to(at::kFloat).contiguous();
  Q8Gemm g;
  g.x = x2.data_ptr<float>();
  g.M = static_cast<int>(x2.size(0));
  g.K = static_cast<int>(w.in());
  g.N = static_cast<int>(w.out());
  g.wq = w.q.data_ptr<int8_t>();
  g.wd = w.d.data_ptr<float>();
  g.bias = bf.defined() ? bf.data_ptr<float>() : nullptr;
  auto y = at::empty({g.M, g.N}, at::kFloat);
  g.y = y.data_ptr<float>();
  if (g.M > 0) q8_gemm(g, at::get_num_threads());
  if (plain) return y;
  auto shape = x.sizes().vec();
  shape.back() = g.N;
  y = y.view(shape);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

bool Weights::quantized() const {
  if (lm_head_q8.defined()) return true;
  for (const auto& L : layers)
    for (const Proj* p :
         {&L.qkv, &L.q, &L.k, &L.v, &L.o, &L.fc, &L.fc_out, &L.gate, &L.up, &L.down})
      if (p->q8.defined()) return true;
  return false;
}

at::Tensor Proj::operator()(const at::Tensor& x, bool training) const {
  at::Tensor y;
  if (q8.defined()) {
    y = q8_linear(q8, b, x);
  } else if (conv1d) {
    auto x2 = x.reshape({-1, x.size(-1)});
    y = b.defined() ? at::addmm(b, x2, w) : at::mm(x2, w);
    auto shape = x.sizes().vec();
    shape.back() = w.size(1);
    y = y.view(shape);
  } else {
    y = at::linear(x, w, b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt);
  }
  if (lora_a.defined()) {
    auto xin = (training && lora_dropout > 0) ? at::dropout(x, lora_dropout, true) : x;
    y = y + at::linear(at::linear(xin, lora_a), lora_b) * lora_scale;
  }
  return y;
}

std::vector<std::pair<std::string, at::Tensor*>> named_tensors(const ModelConfig& c, Weights& w) {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  auto add = [&](std::string n, at::Tensor* t) {
    if (t->defined()) out.emplace_back(std::move(n), t);
  };
  if (c.arch == Arch::Gpt2) {
    add("transformer.wte.weight", &w.wte);
    add("transformer.wpe.weight", &w.wpe);
    for (size_t i = 0; i < w.layers.size(); ++i) {
      auto p = "transformer.h." + std::to_string(i) + ".";
      auto& L = w.layers[i];
      add(p + "ln_1.weight", &L.norm1_w);
      add(p + "ln_1.bias", &L.norm1_b);
      add(p + "attn.c_attn.weight", &L.qkv.w);
      add(p + "attn.c_attn.bias", &L.qkv.b);
      add(p + "attn.c_proj.weight", &L.o.w);
      add(p + "attn.c_proj.bias", &L.o.b);
      add(p + "ln_2.weight", &L.norm2_w);
      add(p + "ln_2.bias", &L.norm2_b);
      add(p + "mlp.c_fc.weight", &L.fc.w);
      add(p + "mlp.c_fc.bias", &L.fc.b);
      add(p + "mlp.c_proj.weight", &L.fc_out.w);
      add(p + "mlp.c_proj.bias", &L.fc_out.b);
    }
    add("transformer.ln_f.weight", &w.norm_w);
    add("transformer.ln_f.bias", &w.norm_b);
  } else {
    add("model.embed_tokens.weight", &w.wte);
    for (size_t i = 0; i < w.layers.size(); ++i) {
      auto p = "model.layers." + std::to_string(i) + ".";
      auto& L = w.layers[i];
      add(p + "input_layernorm.weight", &L.norm1_w);
      for (auto [n, proj] : {std::pair<const char*, Proj*>{"self_attn.q_proj", &L.q}, {"self_attn.k_proj", &L.k},
                             {"self_attn.v_proj", &L.v}, {"self_attn.o_proj", &L.o}, {"mlp.gate_proj", &L.gate},
                             {"mlp.up_proj", &L.up}, {"mlp.down_proj", &L.down}}) {
        add(p + n + ".weight", &proj->w);
        add(p + n + ".bias", &proj->b);
      }
      add(p + "post_attention_layernorm.weight", &L.norm2_w);
    }
    add("model.norm.weight", &w.norm_w);
  }
  add("lm_head.weight", &w.lm_head);
  return out;
}

std::vector<std::pair<std::string, Proj*>> named_projections(const ModelConfig& c, Weights& w) {
  std::vector<std::pair<std::string, Proj*>> out;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    auto& L = w.layers[i];
    if (c.arch == Arch::Gpt2) {
      auto p = "transformer.h." + std::to_string(i) + ".";
      out.push_back({p + "attn.c_attn", &L.qkv});
      out.push_back({p + "attn.c_proj", &L.o});
      out.push_back({p + "mlp.c_fc", &L.fc});
      out.push_back({p + "mlp.c_proj", &L.fc_out});
    } else {
      auto p = "model.layers." + std::to_string(i) + ".";
      out.push_back({p + "self_attn.q_proj", &L.q});
      out.push_back({p + "self_attn.k_proj", &L.k});
      out.push_back({p + "self_attn.v_proj", &L.v});
      out.push_back({p + "self_attn.o_proj", &L.o});
      out.push_back({p + "mlp.gate_proj", &L.gate});
      out.push_back({p + "mlp.up_proj", &L.up});
      out.push_back({p + "mlp.down_proj", &L.down});
    }
  }
  return out;
}

namespace {

// The projections' weights as one [sum of outs, in] matrix, when they lie back to back in
// memory (the arena hands out consecutive 64-byte aligned slices, so they do when loaded one
// after the other): dense fp32 or bf16 on the CPU, contiguous, same input size, no biases.
// A view over the first weight's memory that keeps it alive; undefined when they do not.
at::Tensor stacked_rows(const std::vector<const Proj*>& ps) {
  const auto& first = ps.front()->w;
  if (!first.defined() || !first.is_cpu() || first.dim() != 2 ||
      (first.scalar_type() != at::kFloat && first.scalar_type() != at::kBFloat16))
    return {};
  const char* next = static_cast<const char*>(first.data_ptr());
  int64_t rows = 0;
  for (const Proj* p : ps) {
    const auto& t = p->w;
    if (!t.defined() || p->b.defined() || p->conv1d || p->q8.defined() || !t.is_contiguous() ||
        t.scalar_type() != first.scalar_type() || t.dim() != 2 || t.size(1) != first.size(1) ||
        static_cast<const char*>(t.data_ptr()) != next)
      return {};
    next += t.nbytes();
    rows += t.size(0);
  }
  return at::from_blob(
      first.data_ptr(), {rows, first.size(1)}, [keep = first](void*) {}, first.options());
}

}  // namespace

void to_inference_layout(const ModelConfig& c, Weights& w) {
  at::NoGradGuard no_grad;
  // GPT-2's Conv1D [in, out] become [out, in] copies, in one arena of huge pages on the CPU.
  size_t bytes = 0;
  for (auto& [name, p] : named_projections(c, w))
    if (p->conv1d && p->w.is_cpu())
      bytes += WeightArena::reserve({p->w.size(1), p->w.size(0)}, p->w.scalar_type());
  auto arena = bytes ? WeightArena::create(bytes) : nullptr;
  for (auto& [name, p] : named_projections(c, w))
    if (p->conv1d) {
      auto t = arena && p->w.is_cpu()
                   ? arena->take({p->w.size(1), p->w.size(0)}, p->w.scalar_type())
                   : at::empty({p->w.size(1), p->w.size(0)}, p->w.options());
      p->w = t.copy_(p->w.t());
      p->conv1d = false;
      p->from_conv1d = true;
    }
  if (c.arch == Arch::Llama)
    for (auto& L : w.layers) {
      L.qkv_rows = stacked_rows({&L.q, &L.k, &L.v});
      L.gate_up_rows = stacked_rows({&L.gate, &L.up});
    }
}

namespace {

// Shapes every tensor must have, by name (so a wrong checkpoint fails with a clear message).
// `make` creates each tensor (at::empty, or a slice of an arena; allocate() calls this once to
// measure and once to make); `scratch` GPT-2's Conv1D matrices, which to_inference_layout()
// replaces by transposed copies (in an arena of their own: a stale span in this one would
// stay resident as long as the arena does).
template <class Make, class Scratch>
void allocate_with(const ModelConfig& c, Weights& w, const Make& make, const Scratch& scratch) {
  int64_t D = c.d_model, V = c.vocab_size, F = c.d_ff, H = c.n_head * c.head_dim, KV = c.n_kv_head * c.head_dim;
  w.wte = make({V, D});
  w.norm_w = make({D});
  if (c.arch == Arch::Gpt2) {
    w.wpe = make({c.max_positions, D});
    w.norm_b = make({D});
  }
  if (!c.tie_embeddings) w.lm_head = make({V, D});
  w.layers.resize(c.n_layer);
  for (auto& L : w.layers) {
    L.norm1_w = make({D});
    L.norm2_w = make({D});
    if (c.arch == Arch::Gpt2) {
      L.norm1_b = make({D});
      L.norm2_b = make({D});
      auto conv = [&](Proj& p, int64_t in, int64_t out) {
        p.conv1d = true;
        p.w = scratch({in, out});
        p.b = make({out});
      };
      conv(L.qkv, D, 3 * D);
      conv(L.o, D, D);
      conv(L.fc, D, F);
      conv(L.fc_out, F, D);
    } else {
      auto lin = [&](Proj& p, int64_t in, int64_t out, bool bias) {
        p.w = make({out, in});
        if (bias) p.b = make({out});
      };
      lin(L.q, D, H, c.attention_bias);
      lin(L.k, D, KV, c.attention_bias);
      lin(L.v, D, KV, c.attention_bias);
      lin(L.o, H, D, c.attention_bias);
      lin(L.gate, D, F, c.mlp_bias);
      lin(L.up, D, F, c.mlp_bias);
      lin(L.down, F, D, c.mlp_bias);
    }
  }
}

void allocate(const ModelConfig& c, Weights& w, const at::TensorOptions& o) {
  auto plain = [&](at::IntArrayRef sizes) { return at::empty(sizes, o); };
  if (!o.device().is_cpu()) {
    allocate_with(c, w, plain, plain);
    return;
  }
  const auto dt = o.dtype().toScalarType();
  size_t bytes = 0;
  Weights measure;
  auto none = [](at::IntArrayRef) { return at::Tensor(); };
  allocate_with(
      c, measure,
      [&](at::IntArrayRef sizes) {
        bytes += WeightArena::reserve(sizes, dt);
        return at::Tensor();
      },
      none);
  auto arena = WeightArena::create(bytes);
  allocate_with(
      c, w, [&](at::IntArrayRef sizes) { return arena->take(sizes, dt); }, plain);
}

}  // namespace

at::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    default: throw runtime_error(fmt::format("weights of dtype {} cannot be loaded", dtype_name(d)));
  }
}

Weights load_weights(const ModelConfig& c, const std::shared_ptr<const Checkpoint>& ckpt,
                     const at::TensorOptions& opts, bool zero_copy, bool keep_q8) {
  // config.json is bounded by what the checkpoint holds before anything is allocated:
  // `n_layer: 1000000` once reached 24 GB of RSS before "checkpoint lacks tensor".
  int64_t held = 0;
  for (const auto& n : ckpt->names()) held += ckpt->get(n).numel();
  if (c.parameter_count() > held)
    throw runtime_error(fmt::format("config.json describes {} parameters but the checkpoint holds only {}",
                                    c.parameter_count(), held),
                        "the weights do not match config.json (layers, width, vocabulary)");
  Weights w;
  allocate(c, w, opts);
  at::NoGradGuard no_grad;
  keep_q8 = keep_q8 && opts.device().is_cpu() && q8_gemm_supported();
  // A second arena of huge pages for what is shaped only now: GPT-2's projections from a
  // GGUF ([out, in] already) and the repacked Q8_0 matrices (reserved for every Q8_0 matrix
  // in the file; spans left untouched never become resident).
  const auto dt = opts.dtype().toScalarType();
  size_t late = 0;
  if (ckpt->linear_layout())
    for (auto& [name, p] : named_projections(c, w))
      if (p->conv1d) late += WeightArena::reserve({p->w.size(1), p->w.size(0)}, dt);
  if (keep_q8)
    for (const auto& n : ckpt->names()) {
      const auto& v = ckpt->get(n);
      if (v.dtype == DType::Q8_0 && v.shape.size() == 2)
        late += WeightArena::reserve({v.shape[0], v.shape[1]}, at::kChar) +
                WeightArena::reserve({v.shape[0], v.shape[1] / 32}, at::kFloat);
    }
  auto arena = late && opts.device().is_cpu() ? WeightArena::create(late) : nullptr;
  auto make = [&](at::IntArrayRef sizes, at::ScalarType type) {
    return arena ? arena->take(sizes, type) : at::empty(sizes, opts.dtype(type));
  };
  if (ckpt->linear_layout())  // GGUF holds GPT-2's projections [out, in] already
    for (auto& [name, p] : named_projections(c, w))
      if (p->conv1d) {
        p->w = make({p->w.size(1), p->w.size(0)}, dt);
        p->conv1d = false;
        p->from_conv1d = true;
      }
  std::map<const at::Tensor*, Proj*> proj_of;
  for (auto& [name, p] : named_projections(c, w)) proj_of[&p->w] = p;
  // Q8_0 blocks repacked once for q8_gemm (int8 rows, fp32 scales).
  auto blocks = [&](const TensorView& v) {
    Q8Weight q;
    q.q = make({v.shape[0], v.shape[1]}, at::kChar);
    q.d = make({v.shape[0], v.shape[1] / 32}, at::kFloat);
    q8_repack(static_cast<const uint8_t*>(v.data), v.shape[0], v.shape[1], q.q.data_ptr<int8_t>(),
              q.d.data_ptr<float>());
    return q;
  };
  for (auto& [name, t] : named_tensors(c, w)) {
    const TensorView* v = ckpt->find(name);
    // Original GPT-2 checkpoints name tensors without the "transformer." prefix.
    if (!v && name.rfind("transformer.", 0) == 0) v = ckpt->find(name.substr(12));
    if (!v) throw runtime_error(fmt::format("checkpoint lacks tensor '{}'", name),
                                "the weights do not match config.json's architecture");
    if (v->shape != t->sizes().vec())
      throw runtime_error(fmt::format("tensor '{}' has shape [{}] but config.json implies [{}]", name,
                                      fmt::join(v->shape, ", "), fmt::join(t->sizes().vec(), ", ")));
    if (v->dtype == DType::Q8_0 && keep_q8 && v->shape.size() == 2) {
      if (auto it = proj_of.find(t); it != proj_of.end()) {  // a projection: stays 8-bit
        it->second->q8 = blocks(*v);
        *t = at::Tensor();
        continue;
      }
      if (t == &w.lm_head || (t == &w.wte && c.tie_embeddings)) w.lm_head_q8 = blocks(*v);
      if (t == &w.lm_head) {
        *t = at::Tensor();
        continue;
      }
      // token_embd: rows are looked up, so it is widened (and, tied, multiplied in 8 bits).
    }
    if (v->dtype == DType::Q8_0) {  // GGUF's 8-bit blocks, widened to the model's dtype
      auto f = at::empty(v->shape, at::kFloat);
      ggml_decode(GgmlType::Q8_0, static_cast<const uint8_t*>(v->data), v->numel(),
                  f.data_ptr<float>());
      t->copy_(f);
      continue;
    }
    auto st = scalar_type(v->dtype);
    bool aligned = reinterpret_cast<uintptr_t>(v->data) % dtype_size(v->dtype) == 0;
    if (zero_copy && aligned && opts.device().is_cpu() && st == opts.dtype().toScalarType()) {
      auto keep = ckpt;  // the mapping lives as long as any tensor viewing it
      *t = at::from_blob(const_cast<void*>(v->data), v->shape, [keep](void*) {}, at::TensorOptions().dtype(st));
      continue;
    }
    // A view of the mapping, then one copy into the target dtype/device.
    t->copy_(at::from_blob(const_cast<void*>(v->data), v->shape, at::TensorOptions().dtype(st)));
  }
  return w;
}

Weights init_weights(const ModelConfig& c, uint64_t seed, const at::TensorOptions& opts) {
  Weights w;
  allocate(c, w, opts);
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  double resid_scale = 0.02 / std::sqrt(2.0 * c.n_layer);  // GPT-2's scaled init of output projections
  for (auto& [name, t] : named_tensors(c, w)) {
    auto cpu = at::empty(t->sizes(), at::kFloat);
    bool is_norm = name.find("ln_") != std::string::npos || name.find("norm") != std::string::npos;
    bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_bias) cpu.zero_();
    else if (is_norm) cpu.fill_(1.0);
    else if (name.find("c_proj.weight") != std::string::npos || name.find("o_proj") != std::string::npos ||
             name.find("down_proj") != std::string::npos)
      cpu.normal_(0.0, resid_scale, gen);
    else
      cpu.normal_(0.0, 0.02, gen);
    t->copy_(cpu);
  }
  return w;
}

void KVCache::reset(const ModelConfig& c, int64_t batch, int64_t cap, const at::TensorOptions& opts) {
  k.assign(c.n_layer, at::Tensor());
  v.assign(c.n_layer, at::Tensor());
  for (int i = 0; i < c.n_layer; ++i) {
    k[i] = at::zeros({batch, c.n_kv_head, cap, c.head_dim}, opts);
    v[i] = at::zeros({batch, c.n_kv_head, cap, c.head_dim}, opts);
  }
  key_valid = at::zeros({batch, cap}, opts.dtype(at::kBool));
  len = 0;
  capacity = cap;
}

at::Tensor rotate_half(const at::Tensor& x) {
  auto half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// HF Llama RoPE: dimension i pairs with i + head_dim/2.
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, const at::Tensor& positions, at::ScalarType dt) {
  auto hd = c.head_dim;
  auto inv = at::pow(c.rope_theta, -at::arange(0, hd, 2, positions.options().dtype(at::kFloat)) / hd);
  auto freqs = positions.to(at::kFloat).unsqueeze(-1) * inv;  // [P..., hd/2]
  auto emb = at::cat({freqs, freqs}, -1);                      // [P..., hd]
  return {emb.cos().to(dt), emb.sin().to(dt)};
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  auto xf = x.to(at::kFloat);
  auto y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return y.to(x.scalar_type()) * w;
}

at::Tensor forward_hidden(const ModelConfig& c, const Weights& w, const at::Tensor& ids,
                          const at::Tensor& positions, const at::Tensor& valid, KVCache* cache,
                          bool training) {
  const int64_t B = ids.size(0), T = ids.size(1), hd = c.head_dim;
  const int64_t nh = c.n_head, nkv = c.n_kv_head;
  auto x = at::embedding(w.wte, ids);
  if (c.arch == Arch::Gpt2) x = x + at::embedding(w.wpe, positions);
  const auto dt = x.scalar_type();

  // Keys visible to each query: causal, not padding; a query always sees itself so that
  // padding rows stay finite (they are never read).
  int64_t past = cache ? cache->len : 0;
  int64_t S = past + T;
  at::Tensor key_valid;
  if (cache) {
    TORCH_CHECK(S <= cache->capacity, "KV cache capacity exceeded");
    cache->key_valid.narrow(1, past, T).copy_(valid);
    key_valid = cache->key_valid.narrow(1, 0, S);
  } else {
    key_valid = valid;
  }
  auto qpos = at::arange(past, S, ids.options()).view({T, 1});
  auto kpos = at::arange(0, S, ids.options()).view({1, S});
  auto allowed = (kpos <= qpos).unsqueeze(0) & key_valid.view({B, 1, S});  // [B, T, S]
  allowed = allowed | (kpos == qpos).unsqueeze(0);
  auto mask = at::zeros({B, 1, T, S}, x.options()).masked_fill_(allowed.logical_not().unsqueeze(1),
                                                                -std::numeric_limits<float>::infinity());
  at::Tensor cos, sin;
  if (c.arch == Arch::Llama) {
    std::tie(cos, sin) = rope_tables(c, positions, dt);  // [B, T, hd]
    cos = cos.unsqueeze(1), sin = sin.unsqueeze(1);       // [B, 1, T, hd]
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  for (size_t li = 0; li < w.layers.size(); ++li) {
    const auto& L = w.layers[li];
    at::Tensor h, q, k, v;
    if (c.arch == Arch::Gpt2) {
      h = at::layer_norm(x, {c.d_model}, L.norm1_w, L.norm1_b, c.norm_eps);
      auto qkv = L.qkv(h, training).split(c.d_model, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];
    } else {
      h = rms_norm(x, L.norm1_w, c.norm_eps);
      q = L.q(h, training), k = L.k(h, training), v = L.v(h, training);
    }
    q = q.view({B, T, nh, hd}).transpose(1, 2);
    k = k.view({B, T, nkv, hd}).transpose(1, 2);
    v = v.view({B, T, nkv, hd}).transpose(1, 2);
    if (c.arch == Arch::Llama) {
      q = q * cos + rotate_half(q) * sin;
      k = k * cos + rotate_half(k) * sin;
    }
    if (cache) {
      cache->k[li].narrow(2, past, T).copy_(k);
      cache->v[li].narrow(2, past, T).copy_(v);
      k = cache->k[li].narrow(2, 0, S);
      v = cache->v[li].narrow(2, 0, S);
    }
    if (nkv != nh) {  // GQA: query head h uses KV head h / n_rep
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    auto att = at::matmul(q, k.transpose(-2, -1)) * scale + mask;
    att = at::softmax(att, -1, at::kFloat).to(dt);
    auto y = at::matmul(att, v).transpose(1, 2).reshape({B, T, nh * hd});
    x = x + L.o(y, training);
    if (c.arch == Arch::Gpt2) {
      h = at::layer_norm(x, {c.d_model}, L.norm2_w, L.norm2_b, c.norm_eps);
      x = x + L.fc_out(gelu_tanh(L.fc(h, training)), training);
    } else {
      h = rms_norm(x, L.norm2_w, c.norm_eps);
      x = x + L.down(at::silu(L.gate(h, training)) * L.up(h, training), training);
    }
  }
  if (cache) cache->len = S;
  return c.arch == Arch::Gpt2 ? at::layer_norm(x, {c.d_model}, w.norm_w, w.norm_b, c.norm_eps)
                              : rms_norm(x, w.norm_w, c.norm_eps);
}

at::Tensor lm_logits(const ModelConfig& c, const Weights& w, const at::Tensor& hidden) {
  if (w.lm_head_q8.defined()) return q8_linear(w.lm_head_q8, at::Tensor(), hidden);
  const auto& head = w.lm_head.defined() ? w.lm_head : w.wte;
  if (hidden.numel() == hidden.size(-1)) {
    // One row: matrix-vector beats a [1, D] x [D, V] GEMM on memory-bound decode.
    auto shape = hidden.sizes().vec();
    shape.back() = head.size(0);
    return at::mv(head, hidden.reshape({-1})).view(shape);
  }
  return at::matmul(hidden, head.t());
}

}  // namespace xops
