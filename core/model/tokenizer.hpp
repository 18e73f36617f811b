#pragma once
// Byte-level BPE (GPT-2 family): vocab.json + merges.txt or tokenizer.json, GPT-2's
// pre-tokenizer regex with exact Unicode semantics (PCRE2, UTF + UCP), added/special tokens,
// and a streaming decoder that holds back incomplete UTF-8. A byte vocabulary (256 tokens,
// id = byte value, no merges) serves models trained from scratch.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace xops {

class Tokenizer {
 public:
  // From a model directory: tokenizer.json, else vocab.json + merges.txt.
  static Tokenizer load(const std::filesystem::path& dir);
  static Tokenizer from_files(const std::filesystem::path& vocab_json,
                              const std::filesystem::path& merges_txt);
  static Tokenizer from_tokenizer_json(const std::filesystem::path& file);
  // From GGUF's tokenizer.ggml.* arrays: token texts by id (byte-to-unicode form), merges as
  // "a b", and token types (3 control and 4 user-defined are added tokens).
  static Tokenizer from_vocab(const std::vector<std::string>& tokens,
                              const std::vector<std::string>& merges,
                              const std::vector<int32_t>& types, const std::string& source);
  // 256 byte tokens plus optional special tokens appended after them.
  static Tokenizer byte_level(const std::vector<std::string>& specials = {"<|endoftext|>"});

  Tokenizer clone() const;  // a deep copy (the encode cache starts empty)
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // parse_special: "<|endoftext|>" in text becomes its id (else it is encoded as plain text).
  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // Raw bytes of one token (special tokens: their text).
  std::string token_bytes(int32_t id) const;

  size_t vocab_size() const;
  int32_t token_id(const std::string& token_text) const;  // -1 when absent (vocab form)
  int32_t special_id(const std::string& text) const;      // -1 when absent
  bool is_special(int32_t id) const;
  bool is_byte_level() const;
  // Token texts by id (vocab form; added tokens as their text), merges as "a b" in rank order.
  std::vector<std::string> token_texts() const;
  std::vector<std::string> merge_texts() const;
  // Writes tokenizer.json (HF format) + vocab.json + merges.txt into dir.
  void save(const std::filesystem::path& dir) const;

  // Turns a stream of ids into text pieces that are always complete UTF-8.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const Tokenizer& t) : t_(t) {}
    std::string push(int32_t id);  // the newly completed text ("" while a char is split)
    std::string flush();           // whatever is left (invalid bytes become U+FFFD)

   private:
    const Tokenizer& t_;
    std::string pending_;
  };

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Length of the longest prefix of s made of complete UTF-8 sequences.
size_t complete_utf8_prefix(std::string_view s);

}  // namespace xops
