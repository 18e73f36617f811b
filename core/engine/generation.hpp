#pragma once
// The generation loop, torch-free, on top of the step-level decoder: sampling, EOS, stop
// strings, the streaming UTF-8 decoder, finish reasons and logprobs. `xops generate`, eval's
// local provider and the server all use it.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/model/tokenizer.hpp"

namespace xops {

class LanguageModel;

struct SamplingOptions {
  int max_tokens = 64;
  double temperature = 0.0;  // 0 = greedy
  int top_k = 0;             // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 0;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool stop_at_eos = true;
  int logprobs = -1;      // -1 = off; N >= 0: the chosen token's log-probability and the top N
  bool use_cache = true;  // false recomputes the whole sequence each step (for checks)
};

struct TokenLogprob {
  int32_t id = -1;
  double logprob = 0;
  std::vector<std::pair<int32_t, double>> top;  // the N most likely, best first
};

struct Generation {
  std::vector<int32_t> ids;   // generated ids (not the prompt; EOS not included)
  std::string text;           // generated text (complete UTF-8, stop string removed)
  std::string finish_reason;  // "stop" (EOS or a stop string), "length", or "cancelled"
  size_t prompt_tokens = 0;
  std::vector<TokenLogprob> logprobs;  // one per sampled token (EOS included) when asked
};

struct GenerationStats {
  double prefill_seconds = 0, decode_seconds = 0;
  size_t prefill_tokens = 0, decode_tokens = 0;
};

// (prompt index, token id, newly completed text); return false to stop that prompt.
using TokenCallback = std::function<bool(size_t, int32_t, const std::string&)>;
// (prompt index, step, logits over the vocabulary) for every generated token.
using LogitsCallback = std::function<void(size_t, size_t, const float*, size_t)>;

// log_softmax in double precision: the chosen id's log-probability and the top n.
TokenLogprob token_logprob(const float* logits, size_t V, int32_t chosen, int n);

// Greedy, or temperature with top-k and top-p (nucleus), from a seeded generator.
class Sampler {
 public:
  Sampler(const SamplingOptions& o, uint64_t seed) : o_(o), rng_(seed) {}
  int32_t sample(const float* logits, size_t V);

 private:
  size_t pick(double sum);

  const SamplingOptions& o_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<double> p_;
};

// One sequence's generation state: takes each step's logits, decides the token and whether
// the sequence is done. The server keeps one per request; generate() one per prompt.
class Sequence {
 public:
  Sequence(const Tokenizer& tok, int32_t eos_id, const SamplingOptions& o, size_t prompt_tokens, int max_new,
           uint64_t seed);
  // Samples a token from the logits and returns it (feed it next unless done()). `piece`
  // receives the text that is now final: complete UTF-8, stop strings cut, and bytes that
  // may begin a stop string held back until the next token decides.
  int32_t accept(const float* logits, size_t V, std::string& piece);
  // Stops now (a callback said so, a client left); the text so far is kept.
  void cancel(const std::string& reason);
  bool done() const { return !gen_.finish_reason.empty(); }
  size_t steps() const { return steps_; }
  const Generation& result() const { return gen_; }
  Generation take() { return std::move(gen_); }

 private:
  const SamplingOptions& o_;
  int32_t eos_;
  int max_new_;
  size_t steps_ = 0;
  size_t emitted_ = 0;  // bytes of text already handed out as pieces
  Sampler sampler_;
  Tokenizer::StreamDecoder stream_;
  Generation gen_;
};

// Generates for several prompts through the model's step-level decoder (up to `slots` at
// once; the rest join as others finish). Each prompt's result equals generating it alone.
std::vector<Generation> generate(LanguageModel& model, const std::vector<std::vector<int32_t>>& prompts,
                                 const SamplingOptions& o, const TokenCallback& on_token = {},
                                 const LogitsCallback& on_logits = {}, GenerationStats* stats = nullptr,
                                 int adapter = -1, int slots = 16);

}  // namespace xops
