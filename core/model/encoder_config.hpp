#pragma once
// A sentence encoder's configuration in Hugging Face + sentence-transformers layout:
// config.json (BertModel), modules.json (Transformer -> Pooling [-> Normalize]),
// 1_Pooling/config.json (mean or CLS) and sentence_bert_config.json (max_seq_length).
// all-MiniLM-L6-v2 and bge-small ship exactly this. Modules xops does not run (Dense, max
// pooling, ...) are refused by name.
#include <filesystem>
#include <string>

namespace xops {

enum class Pooling { Mean, Cls };

struct EncoderConfig {
  int vocab_size = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int max_positions = 0, type_vocab_size = 2;
  double norm_eps = 1e-12;
  std::string activation = "gelu";  // gelu (erf) | gelu_new (tanh) | relu
  Pooling pooling = Pooling::Mean;
  bool normalize = false;
  int max_tokens = 0;  // inputs longer than this many tokens are truncated
  int64_t parameter_count() const;
  std::string describe() const;  // "BertModel 6x384, mean pooling, normalised, 256 tokens"
};

// Whether config.json names a BERT-family encoder (BertModel, BertForMaskedLM, model_type bert).
bool is_encoder_dir(const std::filesystem::path& dir);
EncoderConfig load_encoder_config(const std::filesystem::path& dir);

}  // namespace xops
