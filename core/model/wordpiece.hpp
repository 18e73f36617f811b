#pragma once
// BERT's WordPiece tokenizer as Hugging Face tokenizers runs it: BertNormalizer (clean text,
// CJK characters spaced, accents stripped by NFD, lowercase), BertPreTokenizer (whitespace and
// punctuation), greedy longest-match WordPiece with "##" continuations, then [CLS] ... [SEP].
// Read from tokenizer.json (model.type "WordPiece") or vocab.txt (+ tokenizer_config.json).
// Unicode data (NFD, categories, case) comes from utf8proc. Anything tokenizer.json asks for
// that is not this pipeline is refused, never approximated.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xops {

struct WordPieceOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool lowercase = true;
  int strip_accents = -1;  // -1: as lowercase (HF's None), 0 no, 1 yes
  std::string unk = "[UNK]", prefix = "##";
  int max_input_chars_per_word = 100;
  std::string cls = "[CLS]", sep = "[SEP]", pad = "[PAD]";
  bool add_special = true;  // [CLS] A [SEP] (tokenizer.json without a post_processor: false)
};

class WordPieceTokenizer {
 public:
  // tokenizer.json when the directory has one, else vocab.txt (+ tokenizer_config.json's
  // do_lower_case / strip_accents / tokenize_chinese_chars).
  static WordPieceTokenizer load(const std::filesystem::path& dir);
  static WordPieceTokenizer from_tokenizer_json(const std::string& text,
                                                const std::string& display);
  static WordPieceTokenizer from_vocab(std::vector<std::string> vocab, WordPieceOptions opts);

  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;
  ~WordPieceTokenizer();

  // Ids with [CLS]/[SEP]; max_len > 0 truncates to that many ids, [SEP] kept last.
  std::vector<int32_t> encode(std::string_view text, size_t max_len = 0) const;
  // The text as the normalizer leaves it, and its words (for tests and chunking).
  std::string normalize(std::string_view text) const;
  std::vector<std::string> pre_tokenize(std::string_view normalized) const;
  const std::string& token(int32_t id) const;
  int32_t token_id(const std::string& token) const;  // -1 when absent
  size_t vocab_size() const;
  int32_t pad_id() const;

 private:
  struct Impl;
  explicit WordPieceTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether a directory's tokenizer is WordPiece (tokenizer.json's model.type, else vocab.txt
// without merges.txt).
bool is_wordpiece_dir(const std::filesystem::path& dir);

}  // namespace xops
