#pragma once
// The step-level decoder: a fixed pool of sequence slots that join and leave a running batch
// at any step (continuous batching). Torch-free; implemented in libxops_engine.so.
//
//   int s = dec.admit(prompt_ids, adapter);   // its prefill runs in the coming steps
//   for (;;) for (auto& out : dec.step()) { id = sample(out.logits); dec.feed(out.slot, id); }
//   dec.release(s);                            // its KV memory is reusable at once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xops {

struct DecoderOptions {
  int slots = 8;    // sequences in flight at once
  int context = 0;  // tokens a slot holds, prompt included (0 = the model's maximum)
  // Tokens one step processes across all slots (prefill is chunked to fit).
  int max_step_tokens = 256;
  // While any slot is decoding, prompt tokens per step stay within this, so a newcomer's
  // prefill does not stall the running sequences for long (inter-token latency).
  int prefill_while_decoding = 64;
  // Prompt prefix reuse: a slot keeps the KV rows of its last sequence after release, and a
  // new prompt starts from the longest prefix (same adapter) any slot holds — its own rows,
  // or rows copied from another slot — so only the rest of the prompt is prefilled (a shared
  // system prompt or few-shot header, a retried request). llama-server's cache_prompt.
  bool prefix_cache = true;
};

// Where a decoder's time goes, since it was made.
struct DecoderStats {
  uint64_t steps = 0, tokens = 0;  // forward passes; rows they processed (prefill + decode)
  double seconds = 0;              // inside step()
  double projection_seconds = 0;   // of which in weight-matrix products (projections, head)
  uint64_t prompt_tokens = 0;      // admitted prompt tokens
  uint64_t reused_tokens = 0;      // of which taken from the prefix cache (not prefilled)
};

// The next-token logits of one slot (fp32, vocabulary-sized), valid until the next step().
struct SlotLogits {
  int slot = -1;
  const float* logits = nullptr;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual int slots() const = 0;
  virtual int context() const = 0;
  virtual size_t vocab_size() const = 0;
  // Starts a sequence in a free slot; returns the slot, or -1 when every slot is taken.
  // adapter: -1 = the base model (with the load-time adapter, if any), else an id from
  // LanguageModel::add_adapter. Throws Error(Usage) for an empty or too long prompt.
  virtual int admit(const std::vector<int32_t>& prompt, int adapter = -1) = 0;
  // How many leading tokens of this prompt admit() would take from the prefix cache now.
  virtual size_t cached_prefix(const std::vector<int32_t>& prompt, int adapter = -1) const = 0;
  // The token a slot consumes in the next step (after step() returned its logits).
  virtual void feed(int slot, int32_t token) = 0;
  // One forward pass over every active slot: the next prefill chunk of slots still reading
  // their prompt (bounded by max_step_tokens) plus the fed token of every decoding slot.
  // Returns the slots whose next-token logits are ready, in slot order.
  virtual std::vector<SlotLogits> step() = 0;
  // Ends a sequence; its slot and KV memory are free at once.
  virtual void release(int slot) = 0;
  // Tokens a slot holds (processed prompt + fed tokens); -1 for a free slot.
  virtual int length(int slot) const = 0;
  virtual int active() const = 0;
  // Work waiting for step(): a slot with prompt left to read or a fed token.
  virtual bool pending() const = 0;
  virtual size_t kv_bytes_reserved() const = 0;
  virtual size_t kv_bytes_in_use() const = 0;
  virtual DecoderStats stats() const = 0;
};

}  // namespace xops
