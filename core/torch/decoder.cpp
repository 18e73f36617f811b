#include "core/torch/decoder.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>
#include <unordered_map>

#include "core/error.hpp"
#include "core/torch/decode_attention.hpp"
#include "core/torch/fast_gelu.hpp"
#include "core/torch/guarded.hpp"
#include "core/torch/step_ops.hpp"

namespace xops {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// HF's rotate-half RoPE applied in place to fp32 CPU rows [N, heads, hd] with cos/sin [N, hd]:
// q[i] = q[i] cos[i] - q[i + hd/2] sin[i], q[i + hd/2] = q[i + hd/2] cos[i] + q[i] sin[i].
// Rows may be strided (a slice of a stacked q/k/v product) as long as each row's heads are
// packed.
bool rope_rows_inplace(at::Tensor& q, const at::Tensor& cos, const at::Tensor& sin) {
  if (!q.is_cpu() || q.scalar_type() != at::kFloat || q.dim() != 3 || q.stride(2) != 1 ||
      q.stride(1) != q.size(2) || cos.scalar_type() != at::kFloat || !cos.is_contiguous() ||
      !sin.is_contiguous())
    return false;
  const int64_t N = q.size(0), H = q.size(1), hd = q.size(2), half = hd / 2, row = q.stride(0);
  float* qp = q.data_ptr<float>();
  const float *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h) {
      float* r = qp + n * row + h * hd;
      const float *c = cp + n * hd, *s = sp + n * hd;
      for (int64_t i = 0; i < half; ++i) {
        const float a = r[i], b = r[i + half];
        r[i] = a * c[i] - b * s[i];
        r[i + half] = b * c[i + half] + a * s[i + half];
      }
    }
  return true;
}

}  // namespace

namespace {

struct Slot {
  bool used = false;
  int adapter = -1;
  // The tokens whose keys and values fill rows [0, len) of the slot's KV memory. Kept (with
  // adapter) when the slot is released: the prefix cache.
  std::vector<int32_t> tokens;
  uint64_t last_use = 0;  // admission stamp: the least recently used cache is evicted first
  std::vector<int32_t> prompt;
  size_t consumed = 0;  // prompt tokens already in the KV memory
  int64_t len = 0;      // tokens in the KV memory
  int32_t fed = -1;     // the token to consume next step (-1: none)
  bool reading() const { return consumed < prompt.size(); }
};

// One slot's share of a step: `n` new tokens at positions [start, start + n) of that slot,
// rows [row, row + n) of the packed batch.
struct Segment {
  int slot;
  int64_t start, n, row;
  bool wants_logits;
};

class TorchDecoder final : public Decoder {
 public:
  TorchDecoder(const ModelConfig& c, const Weights& w, at::Device dev, at::ScalarType dt,
               const DecoderOptions& o)
      : c_(c),
        w_(w),
        dev_(dev),
        dt_(dt),
        // bf16 weights on the CPU: activations stay fp32 (as llama.cpp keeps them beside F16
        // weights). LibTorch 1.13's CPU kernels for norms, GELU and residual adds are slow in
        // bf16, and each projection would convert its input and output; the weights, the
        // bandwidth-bound part, stay bf16 and are widened in registers.
        act_(dev.is_cpu() && dt == at::kBFloat16 ? at::kFloat : dt),
        slots_(static_cast<size_t>(std::max(1, o.slots))) {
    context_ = o.context > 0 ? std::min(o.context, c.max_positions) : c.max_positions;
    max_step_tokens_ = std::max(1, o.max_step_tokens);
    prefill_while_decoding_ = std::max(1, o.prefill_while_decoding);
    prefix_cache_ = o.prefix_cache;
    if (o.slots < 1 || o.slots > 4096)
      throw usage_error(fmt::format("{} decoder slots; use 1..4096", o.slots));
    auto opts = at::TensorOptions().dtype(dt).device(dev);
    // Uninitialised: pages are committed as slots fill them, and only written rows are read.
    for (int i = 0; i < c.n_layer; ++i) {
      k_.push_back(at::empty({o.slots, c.n_kv_head, context_, c.head_dim}, opts));
      v_.push_back(at::empty({o.slots, c.n_kv_head, context_, c.head_dim}, opts));
    }
  }

  int slots() const override { return static_cast<int>(slots_.size()); }
  int context() const override { return context_; }
  size_t vocab_size() const override { return static_cast<size_t>(c_.vocab_size); }
  int active() const override {
    int n = 0;
    for (const auto& s : slots_) n += s.used;
    return n;
  }
  bool pending() const override {
    for (const auto& s : slots_)
      if (s.used && (s.reading() || s.fed >= 0)) return true;
    return false;
  }
  int length(int slot) const override {
    const auto& s = at_slot(slot);
    return s.used ? static_cast<int>(s.len) : -1;
  }
  size_t bytes_per_token() const {
    return 2 * static_cast<size_t>(c_.n_layer) * static_cast<size_t>(c_.n_kv_head) *
           static_cast<size_t>(c_.head_dim) * at::elementSize(dt_);
  }
  size_t kv_bytes_reserved() const override {
    return bytes_per_token() * slots_.size() * static_cast<size_t>(context_);
  }
  DecoderStats stats() const override { return stats_; }
  size_t kv_bytes_in_use() const override {
    size_t t = 0;
    for (const auto& s : slots_)
      if (s.used) t += static_cast<size_t>(s.len) + (s.prompt.size() - s.consumed);
    return t * bytes_per_token();
  }

  int admit(const std::vector<int32_t>& prompt, int adapter) override {
    if (prompt.empty())
      throw usage_error("a prompt is empty", "give at least one token (e.g. the BOS/EOS id)");
    if (prompt.size() > static_cast<size_t>(context_))
      throw usage_error(
          fmt::format("the prompt has {} tokens; a decoder slot holds {}", prompt.size(), context_),
          "shorten the prompt or raise the context");
    for (auto id : prompt)
      if (id < 0 || id >= c_.vocab_size)
        throw usage_error(
            fmt::format("token id {} is outside the vocabulary (0..{})", id, c_.vocab_size - 1));
    if (adapter >= 0 && !has_adapter(adapter))
      throw usage_error(fmt::format("no adapter with id {}", adapter));
    const int target = pick_slot(prompt, adapter);
    if (target < 0) return -1;
    auto& s = slots_[static_cast<size_t>(target)];
    const size_t reuse = reuse_prefix(target, prompt, adapter);
    s = Slot{};
    s.used = true;
    s.adapter = adapter;
    s.prompt = prompt;
    s.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(reuse));
    s.consumed = reuse;
    s.len = static_cast<int64_t>(reuse);
    s.last_use = ++clock_;
    stats_.prompt_tokens += prompt.size();
    stats_.reused_tokens += reuse;
    return target;
  }

  size_t cached_prefix(const std::vector<int32_t>& prompt, int adapter) const override {
    if (prompt.empty()) return 0;
    size_t best = 0;
    for (size_t i = 0; i < slots_.size(); ++i) best = std::max(best, prefix_in(i, prompt, adapter));
    return best;
  }

  void feed(int slot, int32_t token) override {
    auto& s = at_slot(slot);
    if (!s.used || s.reading() || s.fed >= 0)
      throw runtime_error(fmt::format("decoder slot {} is not waiting for a token", slot));
    if (token < 0 || token >= c_.vocab_size)
      throw usage_error(fmt::format("token id {} is outside the vocabulary", token));
    if (s.len >= context_)
      throw usage_error(fmt::format("decoder slot {} is full ({} tokens)", slot, context_),
                        "raise the context");
    s.fed = token;
  }

  // The slot is free at once; its KV rows stay as a prefix cache until it is taken again.
  void release(int slot) override {
    auto& s = at_slot(slot);
    Slot kept;
    if (prefix_cache_) {
      kept.tokens = std::move(s.tokens);
      kept.adapter = s.adapter;
      kept.last_use = s.last_use;
    }
    s = std::move(kept);
  }

  std::vector<SlotLogits> step() override {
    auto t0 = Clock::now();
    auto out = guarded("decoding", [&] { return run_step(); });
    stats_.steps++;
    stats_.seconds += seconds_since(t0);
    return out;
  }

 private:
  Slot& at_slot(int slot) {
    if (slot < 0 || static_cast<size_t>(slot) >= slots_.size())
      throw runtime_error(fmt::format("decoder slot {} does not exist", slot));
    return slots_[static_cast<size_t>(slot)];
  }
  const Slot& at_slot(int slot) const { return const_cast<TorchDecoder*>(this)->at_slot(slot); }

  // How many leading tokens of `prompt` slot i's KV rows hold for `adapter` (keys and values
  // depend on the adapter). At most all but one: the last prompt token is always run, as its
  // logits are the first output.
  size_t prefix_in(size_t i, const std::vector<int32_t>& prompt, int adapter) const {
    const auto& s = slots_[i];
    if (!prefix_cache_ || s.adapter != adapter) return 0;
    const size_t n = std::min(s.tokens.size(), prompt.size() - 1);
    size_t k = 0;
    while (k < n && s.tokens[k] == prompt[k]) ++k;
    return k;
  }

  // The free slot a prompt goes to: the one whose own cache holds the longest prefix of it,
  // if that prefix is most of the prompt or most of the cache; failing any, a never-used
  // slot, then the least recently used cache. -1: none free. Without the "most of", a prompt
  // that shares a first token by chance ("jolly..." and "jumps..." both start with GPT-2's
  // "j") evicts another prompt's whole cache to save one token, and two such prompts evict
  // each other on every turn. llama-server's slot_prompt_similarity asks for more than half
  // of the prompt. reuse_prefix still copies the longest prefix from wherever it is.
  int pick_slot(const std::vector<int32_t>& prompt, int adapter) const {
    int best = -1;
    size_t best_prefix = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      const auto& s = slots_[i];
      if (s.used) continue;
      size_t p = prefix_in(i, prompt, adapter);
      if (2 * p <= prompt.size() && 2 * p < s.tokens.size()) p = 0;
      auto key = [&](const Slot& t, size_t pre) {
        return std::make_tuple(pre, t.tokens.empty(),
                               std::numeric_limits<uint64_t>::max() - t.last_use);
      };
      if (best < 0 || key(s, p) > key(slots_[static_cast<size_t>(best)], best_prefix))
        best = static_cast<int>(i), best_prefix = p;
    }
    return best;
  }

  // Fills the target slot's leading KV rows with the longest cached prefix of the prompt:
  // its own rows where they are the longest, else copied from the slot (running or free)
  // that holds more. Returns the rows reused.
  size_t reuse_prefix(int target, const std::vector<int32_t>& prompt, int adapter) {
    const size_t t = static_cast<size_t>(target);
    size_t own = prefix_in(t, prompt, adapter), best = own, from = t;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (i == t) continue;
      const size_t p = prefix_in(i, prompt, adapter);
      if (p > best) best = p, from = i;
    }
    if (from != t && best > 0) {
      const auto n = static_cast<int64_t>(best);
      for (size_t li = 0; li < k_.size(); ++li) {
        k_[li][target].narrow(1, 0, n).copy_(k_[li][static_cast<int64_t>(from)].narrow(1, 0, n));
        v_[li][target].narrow(1, 0, n).copy_(v_[li][static_cast<int64_t>(from)].narrow(1, 0, n));
      }
    }
    return best;
  }

  bool has_adapter(int id) const {
    for (const auto& L : w_.layers)
      for (const Proj* p :
           {&L.qkv, &L.q, &L.k, &L.v, &L.o, &L.fc, &L.fc_out, &L.gate, &L.up, &L.down})
        if (static_cast<size_t>(id) < p->extra.size() &&
            p->extra[static_cast<size_t>(id)].a.defined())
          return true;
    return false;
  }

  // Decoding slots take one token each (they never wait behind a long prompt); slots still
  // reading their prompt share what is left of the step's token budget, in slot order.
  std::vector<Segment> plan(std::vector<int64_t>& ids, std::vector<int64_t>& pos) {
    std::vector<Segment> segs;
    int64_t budget = max_step_tokens_;
    bool decoding = false;
    for (const auto& s : slots_)
      if (s.used && !s.reading() && s.fed >= 0) --budget, decoding = true;
    if (decoding) budget = std::min(budget, prefill_while_decoding_);
    budget = std::max<int64_t>(budget, 16);  // prompts always advance
    int64_t row = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      auto& s = slots_[i];
      if (!s.used) continue;
      if (s.reading()) {
        int64_t n = std::min<int64_t>(budget, static_cast<int64_t>(s.prompt.size() - s.consumed));
        if (n <= 0) continue;
        budget -= n;
        for (int64_t j = 0; j < n; ++j) {
          ids.push_back(s.prompt[s.consumed + static_cast<size_t>(j)]);
          pos.push_back(s.len + j);
        }
        segs.push_back({static_cast<int>(i), s.len, n, row,
                        s.consumed + static_cast<size_t>(n) == s.prompt.size()});
        row += n;
      } else if (s.fed >= 0) {
        ids.push_back(s.fed);
        pos.push_back(s.len);
        segs.push_back({static_cast<int>(i), s.len, 1, row, true});
        row += 1;
      }
    }
    return segs;
  }

  std::vector<RowGroup> adapter_groups(const std::vector<Segment>& segs, int64_t N) {
    std::map<int, std::vector<int64_t>> rows;
    for (const auto& g : segs)
      for (int64_t r = 0; r < g.n; ++r)
        rows[slots_[static_cast<size_t>(g.slot)].adapter].push_back(g.row + r);
    std::vector<RowGroup> out;
    for (auto& [adapter, r] : rows) {
      if (adapter < 0) continue;
      RowGroup g;
      g.adapter = adapter;
      if (static_cast<int64_t>(r.size()) != N)
        g.rows =
            at::from_blob(r.data(), {static_cast<int64_t>(r.size())}, at::kLong).clone().to(dev_);
      out.push_back(std::move(g));
    }
    return out;
  }

  // Attention of one slot's new rows against everything its KV memory holds (GQA without
  // copying keys: query heads are grouped under their KV head).
  at::Tensor attend(size_t li, const Segment& g, const at::Tensor& q, const at::Tensor& k,
                    const at::Tensor& v) {
    const int64_t nh = c_.n_head, nkv = c_.n_kv_head, hd = c_.head_dim, rep = nh / nkv;
    const int64_t S = g.start + g.n;
    auto K = k_[li][g.slot], V = v_[li][g.slot];  // [nkv, ctx, hd]
    K.narrow(1, g.start, g.n).copy_(k.narrow(0, g.row, g.n).transpose(0, 1));
    V.narrow(1, g.start, g.n).copy_(v.narrow(0, g.row, g.n).transpose(0, 1));
    auto Ks = K.narrow(1, 0, S), Vs = V.narrow(1, 0, S);
    // q rows [n, nh, hd] -> [nkv, rep * n, hd]: head h = kv * rep + r uses KV head kv.
    auto qs = q.narrow(0, g.row, g.n).permute({1, 0, 2}).reshape({nkv, rep * g.n, hd}).to(dt_);
    auto att = at::bmm(qs, Ks.transpose(1, 2))
                   .mul_(1.0 / std::sqrt(static_cast<double>(hd)));  // [nkv, rep*n, S]
    if (g.n > 1) {  // causal within the chunk: row i sits at position start + i
      auto qpos =
          at::arange(g.start, S, at::TensorOptions().dtype(at::kLong).device(dev_)).view({g.n, 1});
      auto kpos = at::arange(0, S, at::TensorOptions().dtype(at::kLong).device(dev_)).view({1, S});
      auto blocked = (kpos > qpos).repeat({rep, 1}).unsqueeze(0);  // [1, rep*n, S]
      att.masked_fill_(blocked, -std::numeric_limits<float>::infinity());
    }
    att = at::softmax(att, -1, at::kFloat).to(dt_);
    auto y = at::bmm(att, Vs);  // [nkv, rep*n, hd]
    return y.view({nh, g.n, hd}).transpose(0, 1).reshape({g.n, nh * hd}).to(act_);
  }

  // Every segment's attention in one decode_attention call (decode rows and prompt chunks,
  // on the engine's threads, scores never materialised beyond a 16-row tile); attend()
  // (LibTorch's bmm/softmax) where that kernel does not run (CUDA, fp16, no AVX-512).
  at::Tensor attention(size_t li, const std::vector<Segment>& segs, const at::Tensor& q,
                       const at::Tensor& k, const at::Tensor& v) {
    const int64_t N = q.size(0), nh = c_.n_head, nkv = c_.n_kv_head, hd = c_.head_dim;
    std::vector<DecodeRow> rows;
    if (dev_.is_cpu() && (dt_ == at::kFloat || dt_ == at::kBFloat16) &&
        decode_attention_supported())
      for (const auto& g : segs)
        for (int64_t i = 0; i < g.n; ++i) rows.push_back({g.slot, g.start + i, g.row + i});
    if (rows.empty()) {
      std::vector<at::Tensor> ys;
      for (const auto& g : segs) ys.push_back(attend(li, g, q, k, v));
      return ys.size() == 1 ? ys[0] : at::cat(ys, 0);
    }
    // Rows of [N, heads, hd] views with unit strides inside a row (GPT-2's split qkv is one).
    auto rows_of = [&](const at::Tensor& t) {
      auto f = t.to(at::kFloat);
      return f.stride(2) == 1 && f.stride(1) == hd ? f : f.contiguous();
    };
    auto qf = rows_of(q), kf = rows_of(k), vf = rows_of(v);
    auto y = at::empty({N, nh * hd}, at::kFloat);
    DecodeAttention a;
    a.n_head = static_cast<int>(nh);
    a.n_kv = static_cast<int>(nkv);
    a.head_dim = static_cast<int>(hd);
    a.context = context_;
    a.bf16 = dt_ == at::kBFloat16;
    a.k_cache = k_[li].data_ptr();
    a.v_cache = v_[li].data_ptr();
    a.q = qf.data_ptr<float>(), a.k = kf.data_ptr<float>(), a.v = vf.data_ptr<float>();
    a.q_stride = qf.stride(0), a.k_stride = kf.stride(0), a.v_stride = vf.stride(0);
    a.y = y.data_ptr<float>();
    decode_attention(a, rows, at::get_num_threads());
    return act_ == at::kFloat ? y : y.to(act_);
  }

  std::vector<SlotLogits> run_step() {
    at::NoGradGuard no_grad;
    std::vector<int64_t> ids, pos;
    auto segs = plan(ids, pos);
    std::vector<SlotLogits> out;
    if (segs.empty()) return out;
    const int64_t N = static_cast<int64_t>(ids.size());
    auto idt = at::from_blob(ids.data(), {N}, at::kLong).clone().to(dev_);
    auto pst = at::from_blob(pos.data(), {N}, at::kLong).clone().to(dev_);
    auto groups = adapter_groups(segs, N);
    stats_.tokens += static_cast<uint64_t>(N);
    auto P = [&](const Proj& p, const at::Tensor& h) {
      auto t0 = Clock::now();
      auto y = project(p, h, groups);
      stats_.projection_seconds += seconds_since(t0);
      return y;
    };
    // Projections whose weights lie stacked in `rows`: one product, else each on its own.
    auto PS = [&](const at::Tensor& rows, const std::vector<const Proj*>& ps, const at::Tensor& h) {
      auto t0 = Clock::now();
      auto ys = project_stacked(rows, ps, h, groups);
      stats_.projection_seconds += seconds_since(t0);
      if (ys.empty())
        for (const Proj* p : ps) ys.push_back(P(*p, h));
      return ys;
    };
    const int64_t nh = c_.n_head, nkv = c_.n_kv_head, hd = c_.head_dim;

    auto x = at::embedding(w_.wte, idt).to(act_);  // [N, D]
    if (c_.arch == Arch::Gpt2) x = x + at::embedding(w_.wpe, pst).to(act_);
    at::Tensor cos, sin;
    at::Tensor cos_rows, sin_rows;  // [N, hd] for the fused fp32 path
    if (c_.arch == Arch::Llama) {
      std::tie(cos, sin) = rope_tables(c_, pst, act_);  // [N, hd]
      cos_rows = cos.contiguous(), sin_rows = sin.contiguous();
      cos = cos.unsqueeze(1), sin = sin.unsqueeze(1);  // [N, 1, hd]
    }
    auto rms = [&](const at::Tensor& t, const at::Tensor& w) {
      auto y = rms_norm_rows(t, act(w), c_.norm_eps);
      return y.defined() ? y : rms_norm(t, act(w), c_.norm_eps);
    };
    auto add = [](at::Tensor& x, const at::Tensor& y) {
      if (!add_rows_inplace(x, y)) x = x + y;
    };
    auto ln = [&](const at::Tensor& t, const at::Tensor& w, const at::Tensor& b) {
      auto y = layer_norm_rows(t, act(w), act(b), c_.norm_eps);
      return y.defined() ? y : at::layer_norm(t, {c_.d_model}, act(w), act(b), c_.norm_eps);
    };
    for (size_t li = 0; li < w_.layers.size(); ++li) {
      const auto& L = w_.layers[li];
      at::Tensor h, q, k, v;
      if (c_.arch == Arch::Gpt2) {
        h = ln(x, L.norm1_w, L.norm1_b);
        auto qkv = P(L.qkv, h).split(c_.d_model, -1);
        q = qkv[0], k = qkv[1], v = qkv[2];
      } else {
        h = rms(x, L.norm1_w);
        auto qkv = PS(L.qkv_rows, {&L.q, &L.k, &L.v}, h);
        q = qkv[0], k = qkv[1], v = qkv[2];
      }
      q = q.reshape({N, nh, hd});
      k = k.reshape({N, nkv, hd});
      v = v.reshape({N, nkv, hd});
      if (c_.arch == Arch::Llama) {
        // In place on the projections' fresh outputs (or slices of the stacked one), fp32 CPU.
        if (!rope_rows_inplace(q, cos_rows, sin_rows)) q = q * cos + rotate_half(q) * sin;
        if (!rope_rows_inplace(k, cos_rows, sin_rows)) k = k * cos + rotate_half(k) * sin;
      }
      auto y = attention(li, segs, q, k, v);
      add(x, P(L.o, y));
      if (c_.arch == Arch::Gpt2) {
        h = ln(x, L.norm2_w, L.norm2_b);
        add(x, P(L.fc_out, gelu_tanh(P(L.fc, h))));
      } else {
        h = rms(x, L.norm2_w);
        auto gu = PS(L.gate_up_rows, {&L.gate, &L.up}, h);
        auto a = silu_mul_rows(gu[0], gu[1]);
        add(x, P(L.down, a.defined() ? a : at::silu(gu[0]) * gu[1]));
      }
    }
    // Only the last row of a slot that finished its prompt (or decoded) needs the head.
    std::vector<int64_t> last;
    for (const auto& g : segs)
      if (g.wants_logits) last.push_back(g.row + g.n - 1);
    if (!last.empty()) {
      auto rows = x.index_select(
          0, at::from_blob(last.data(), {static_cast<int64_t>(last.size())}, at::kLong)
                 .clone()
                 .to(dev_));
      rows = c_.arch == Arch::Gpt2 ? ln(rows, w_.norm_w, w_.norm_b) : rms(rows, w_.norm_w);
      auto t0 = Clock::now();
      logits_ = w_.lm_head_q8.defined()
                    ? at::Tensor()
                    : small_linear(w_.lm_head.defined() ? w_.lm_head : w_.wte, at::Tensor(), rows);
      if (!logits_.defined())
        logits_ = lm_logits(c_, w_, w_.lm_head_q8.defined() ? rows : rows.to(dt_));
      stats_.projection_seconds += seconds_since(t0);
      logits_ = logits_.to(at::kFloat).to(at::kCPU).contiguous();
    }
    size_t li = 0;
    const size_t V = static_cast<size_t>(c_.vocab_size);
    for (const auto& g : segs) {
      auto& s = slots_[static_cast<size_t>(g.slot)];
      s.len += g.n;
      if (s.reading()) {
        s.tokens.insert(s.tokens.end(), s.prompt.begin() + static_cast<std::ptrdiff_t>(s.consumed),
                        s.prompt.begin() + static_cast<std::ptrdiff_t>(s.consumed + g.n));
        s.consumed += static_cast<size_t>(g.n);
      } else {
        s.tokens.push_back(s.fed);
        s.fed = -1;
      }
      if (g.wants_logits) out.push_back({g.slot, logits_.data_ptr<float>() + (li++) * V});
    }
    return out;
  }

  const ModelConfig& c_;
  const Weights& w_;
  at::Device dev_;
  at::ScalarType dt_;   // weights and KV cache
  at::ScalarType act_;  // activations
  // Small weights (norms, biases) converted to act_ once, by their data pointer.
  std::unordered_map<const void*, at::Tensor> as_act_;
  const at::Tensor& act(const at::Tensor& t) {
    if (!t.defined() || t.scalar_type() == act_) return t;
    auto& c = as_act_[t.data_ptr()];
    if (!c.defined()) c = t.to(act_).contiguous();
    return c;
  }
  std::vector<Slot> slots_;
  int context_ = 0;
  int64_t max_step_tokens_ = 256;
  int64_t prefill_while_decoding_ = 64;
  bool prefix_cache_ = true;
  uint64_t clock_ = 0;             // admissions so far (Slot::last_use)
  std::vector<at::Tensor> k_, v_;  // per layer [slots, n_kv, context, head_dim]
  DecoderStats stats_;
  at::Tensor logits_;  // the last step's [ready, vocab] fp32 on the CPU
};

}  // namespace

std::unique_ptr<Decoder> make_torch_decoder(const ModelConfig& c, const Weights& w, at::Device dev,
                                            at::ScalarType dt, const DecoderOptions& opts) {
  return guarded("creating the decoder", [&]() -> std::unique_ptr<Decoder> {
    return std::make_unique<TorchDecoder>(c, w, dev, dt, opts);
  });
}

}  // namespace xops
