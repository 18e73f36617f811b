#include "core/engine/generation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "core/engine/decoder.hpp"
#include "core/engine/language_model.hpp"
#include "core/error.hpp"

namespace xops {

TokenLogprob token_logprob(const float* logits, size_t V, int32_t chosen, int n) {
  double mx = *std::max_element(logits, logits + V), sum = 0;
  for (size_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double norm = mx + std::log(sum);
  TokenLogprob t;
  t.id = chosen;
  t.logprob = static_cast<double>(logits[chosen]) - norm;
  size_t k = std::min<size_t>(static_cast<size_t>(std::max(n, 0)), V);
  if (k > 0) {
    std::vector<int32_t> idx(V);
    for (size_t i = 0; i < V; ++i) idx[i] = static_cast<int32_t>(i);
    // Ties go to the lower id, as a stable sort would.
    std::partial_sort(idx.begin(), idx.begin() + static_cast<long>(k), idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (size_t i = 0; i < k; ++i) t.top.emplace_back(idx[i], static_cast<double>(logits[idx[i]]) - norm);
  }
  return t;
}

int32_t Sampler::sample(const float* logits, size_t V) {
  if (o_.temperature <= 0) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  // Weights exp((logit - max) / T); the filters decide which tokens keep theirs. Nothing is
  // sorted beyond what a filter needs: sorting the whole vocabulary per token (50,257 pairs
  // for GPT-2) took 8% of a served decode step on the one thread the others wait for.
  const double inv_t = 1.0 / o_.temperature;
  const double mx = *std::max_element(logits, logits + V);
  auto weight = [&](float l) { return std::exp((static_cast<double>(l) - mx) * inv_t); };
  const bool top_k = o_.top_k > 0 && static_cast<size_t>(o_.top_k) < V;
  const bool top_p = o_.top_p < 1.0;
  if (!top_k && !top_p) {  // plain temperature sampling: every token, in id order
    p_.resize(V);
    double sum = 0;
    for (size_t i = 0; i < V; ++i) sum += p_[i] = weight(logits[i]);
    return static_cast<int32_t>(pick(sum));
  }
  // The head of the distribution in descending order (ties: the higher id first): the top_k,
  // or for top_p alone a head grown until it holds top_p of the whole mass.
  double total = 0;
  if (!top_k)
    for (size_t i = 0; i < V; ++i) total += weight(logits[i]);
  size_t want = top_k ? static_cast<size_t>(o_.top_k) : std::min<size_t>(V, 64);
  size_t keep = 0;
  for (;;) {
    cand_.resize(V);
    for (size_t i = 0; i < V; ++i) cand_[i] = {logits[i], static_cast<int32_t>(i)};
    std::nth_element(cand_.begin(), cand_.begin() + static_cast<long>(want - 1), cand_.end(),
                     std::greater<>());
    std::sort(cand_.begin(), cand_.begin() + static_cast<long>(want), std::greater<>());
    p_.resize(want);
    double head = 0;
    for (size_t i = 0; i < want; ++i) head += p_[i] = weight(cand_[i].first);
    if (top_k) total = head;  // top_p then applies within the k (as HF and llama.cpp order them)
    keep = want;
    if (top_p) {
      double acc = 0;
      size_t n = 0;
      while (n < want && acc < o_.top_p * total) acc += p_[n++];
      if (!top_k && acc < o_.top_p * total && want < V) {
        want = std::min(V, want * 8);
        continue;
      }
      keep = std::max<size_t>(1, n);
    }
    break;
  }
  p_.resize(keep);
  double sum = 0;
  for (double w : p_) sum += w;
  return cand_[pick(sum)].second;
}

// An index into p_ drawn with probability p_[i] / sum.
size_t Sampler::pick(double sum) {
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  for (size_t i = 0; i < p_.size(); ++i) {
    if (u < p_[i]) return i;
    u -= p_[i];
  }
  // Rounding left u at or past the end: the last token with any weight.
  for (size_t i = p_.size(); i-- > 0;)
    if (p_[i] > 0) return i;
  return 0;
}

Sequence::Sequence(const Tokenizer& tok, int32_t eos_id, const SamplingOptions& o, size_t prompt_tokens, int max_new,
                   uint64_t seed)
    : o_(o), eos_(eos_id), max_new_(max_new), sampler_(o, seed), stream_(tok) {
  gen_.prompt_tokens = prompt_tokens;
  if (max_new_ <= 0) gen_.finish_reason = "length";
}

namespace {

// Bytes at the end of `text` that may be the start of a stop string: held back from the
// stream until the next token says whether the stop string follows.
size_t stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops)
    for (size_t n = s.empty() ? 0 : std::min(s.size() - 1, text.size()); n > hold; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  return hold;
}

}  // namespace

int32_t Sequence::accept(const float* logits, size_t V, std::string& piece) {
  piece.clear();
  if (done()) return -1;
  int32_t id = sampler_.sample(logits, V);
  ++steps_;
  if (o_.logprobs >= 0) gen_.logprobs.push_back(token_logprob(logits, V, id, o_.logprobs));
  size_t emitted = emitted_;
  if (o_.stop_at_eos && id == eos_) {
    gen_.finish_reason = "stop";
  } else {
    gen_.ids.push_back(id);
    gen_.text += stream_.push(id);
    for (const auto& s : o_.stop) {
      auto pos = s.empty() ? std::string::npos : gen_.text.find(s, emitted > s.size() ? emitted - s.size() : 0);
      if (pos != std::string::npos) {
        gen_.text.resize(pos);
        gen_.finish_reason = "stop";
      }
    }
    if (!done() && static_cast<int>(steps_) >= max_new_) {
      gen_.finish_reason = "length";
      gen_.text += stream_.flush();
    }
  }
  size_t upto = done() ? gen_.text.size() : gen_.text.size() - stop_holdback(gen_.text, o_.stop);
  if (upto > emitted_) {
    piece = gen_.text.substr(emitted_, upto - emitted_);
    emitted_ = upto;
  }
  return id;
}

void Sequence::cancel(const std::string& reason) {
  if (!done()) gen_.finish_reason = reason;
}

namespace {

using clk = std::chrono::steady_clock;

int max_new_for(const LanguageModel& m, const SamplingOptions& o, size_t prompt_len) {
  return std::max(0, std::min(o.max_tokens, m.config().max_positions - static_cast<int>(prompt_len)));
}

void check_prompts(const LanguageModel& m, const std::vector<std::vector<int32_t>>& prompts) {
  for (const auto& p : prompts) {
    if (p.empty()) throw usage_error("a prompt is empty", "give at least one token (e.g. the BOS/EOS id)");
    if (p.size() > static_cast<size_t>(m.config().max_positions))
      throw usage_error(
          fmt::format("the prompt has {} tokens; the model's context is {}", p.size(), m.config().max_positions),
          "shorten the prompt");
  }
}

// Recomputes every sequence from scratch at each step: slow, and independent of the KV
// cache and the decoder, which is what makes it a check.
std::vector<Generation> generate_uncached(LanguageModel& m, const std::vector<std::vector<int32_t>>& prompts,
                                          const SamplingOptions& o, const TokenCallback& on_token,
                                          const LogitsCallback& on_logits) {
  const size_t V = static_cast<size_t>(m.config().vocab_size);
  std::vector<Generation> out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Sequence seq(m.tokenizer(), m.config().eos_id, o, prompts[i].size(), max_new_for(m, o, prompts[i].size()),
                 o.seed + i);
    auto ids = prompts[i];
    std::string piece;
    while (!seq.done()) {
      auto logits = m.forward_logits({ids})[0];
      const float* row = logits.data() + (ids.size() - 1) * V;
      if (on_logits) on_logits(i, seq.steps(), row, V);
      int32_t id = seq.accept(row, V, piece);
      ids.push_back(id);
      bool eos = o.stop_at_eos && id == m.config().eos_id;
      if (on_token && (!eos || !piece.empty()) && !on_token(i, id, piece)) seq.cancel("stop");
    }
    out.push_back(seq.take());
  }
  return out;
}

}  // namespace

std::vector<Generation> generate(LanguageModel& m, const std::vector<std::vector<int32_t>>& prompts,
                                 const SamplingOptions& o, const TokenCallback& on_token,
                                 const LogitsCallback& on_logits, GenerationStats* stats, int adapter, int slots) {
  check_prompts(m, prompts);
  if (!o.use_cache) return generate_uncached(m, prompts, o, on_token, on_logits);
  const size_t B = prompts.size();
  const size_t V = static_cast<size_t>(m.config().vocab_size);
  std::vector<std::optional<Sequence>> seqs(B);
  std::vector<Generation> out(B);
  if (B == 0) return out;

  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size() + static_cast<size_t>(max_new_for(m, o, p.size())));
  DecoderOptions d;
  d.slots = static_cast<int>(std::min<size_t>(B, static_cast<size_t>(std::max(1, slots))));
  d.context = static_cast<int>(longest);  // KV memory for what these prompts need, no more
  auto dec = m.decoder(d);
  std::vector<size_t> prompt_of(static_cast<size_t>(d.slots));

  auto t0 = clk::now();
  std::optional<clk::time_point> t_first;
  size_t next = 0, running = 0, sampled = 0, prefilled = 0;
  auto admit_more = [&] {
    while (next < B) {
      size_t i = next;
      seqs[i].emplace(m.tokenizer(), m.config().eos_id, o, prompts[i].size(), max_new_for(m, o, prompts[i].size()),
                      o.seed + i);
      if (seqs[i]->done()) {  // nothing to generate (max_tokens 0 or a full context)
        out[i] = seqs[i]->take();
        ++next;
        continue;
      }
      int s = dec->admit(prompts[i], adapter);
      if (s < 0) {
        seqs[i].reset();
        return;
      }
      prompt_of[static_cast<size_t>(s)] = i;
      prefilled += prompts[i].size();
      ++running;
      ++next;
    }
  };
  admit_more();
  std::string piece;
  while (running > 0) {
    auto ready = dec->step();
    if (!t_first && !ready.empty()) t_first = clk::now();
    for (const auto& r : ready) {
      size_t i = prompt_of[static_cast<size_t>(r.slot)];
      auto& seq = *seqs[i];
      if (on_logits) on_logits(i, seq.steps(), r.logits, V);
      int32_t id = seq.accept(r.logits, V, piece);
      ++sampled;
      bool eos = o.stop_at_eos && id == m.config().eos_id;
      if (on_token && (!eos || !piece.empty()) && !on_token(i, id, piece)) seq.cancel("stop");
      if (seq.done()) {
        dec->release(r.slot);
        out[i] = seq.take();
        seqs[i].reset();
        --running;
      } else {
        dec->feed(r.slot, id);
      }
    }
    admit_more();
  }
  auto t2 = clk::now();
  if (stats) {
    auto first = t_first.value_or(t2);
    stats->prefill_seconds = std::chrono::duration<double>(first - t0).count();
    stats->decode_seconds = std::chrono::duration<double>(t2 - first).count();
    stats->prefill_tokens = prefilled;
    stats->decode_tokens = sampled;
  }
  return out;
}

}  // namespace xops
