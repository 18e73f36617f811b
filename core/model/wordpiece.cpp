#include "core/model/wordpiece.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/json_error.hpp"

namespace xops {

namespace {

constexpr uint64_t kMaxTokenizerBytes = 64ull << 20;
constexpr size_t kMaxVocab = 1u << 22;

// Code points of UTF-8 text; an invalid byte becomes U+FFFD (which clean_text drops).
std::vector<int32_t> code_points(std::string_view s) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  auto p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out.push_back(0xFFFD);
      n = 1;
    } else {
      out.push_back(cp);
    }
    p += n;
    left -= n;
  }
  return out;
}

void append_utf8(std::string& out, int32_t cp) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Rust's char::is_whitespace (the White_Space property), as HF's BertNormalizer uses it.
bool is_whitespace(int32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680) return true;
  if (c >= 0x2000 && c <= 0x200A) return true;
  return c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// HF's is_control: "other" categories except \t \n \r.
bool is_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideograph blocks BERT spaces out (HF's is_chinese_char).
bool is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::string str_of(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump();
}

}  // namespace

struct WordPieceTokenizer::Impl {
  WordPieceOptions opt;
  std::vector<std::string> vocab;
  std::unordered_map<std::string, int32_t> ids;
  std::vector<std::pair<std::string, int32_t>> added;  // matched in the raw text, longest first
  int32_t unk = -1, cls = -1, sep = -1, pad = 0;

  void finish(const std::string& display) {
    if (vocab.empty())
      throw runtime_error(fmt::format("{}: the WordPiece vocabulary is empty", display));
    if (vocab.size() > kMaxVocab)
      throw runtime_error(
          fmt::format("{}: {} tokens is more than {}", display, vocab.size(), kMaxVocab));
    for (size_t i = 0; i < vocab.size(); ++i) ids.emplace(vocab[i], static_cast<int32_t>(i));
    auto need = [&](const std::string& t, const char* role) {
      auto it = ids.find(t);
      if (it == ids.end())
        throw runtime_error(
            fmt::format("{}: the {} token '{}' is not in the vocabulary", display, role, t));
      return it->second;
    };
    unk = need(opt.unk, "unknown");
    if (opt.add_special) cls = need(opt.cls, "[CLS]"), sep = need(opt.sep, "[SEP]");
    auto p = ids.find(opt.pad);
    pad = p == ids.end() ? 0 : p->second;
    std::stable_sort(added.begin(), added.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }

  std::string normalize(std::string_view text) const {
    std::string out;
    out.reserve(text.size() + 8);
    for (int32_t c : code_points(text)) {
      if (opt.clean_text) {
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_whitespace(c)) c = ' ';
      }
      if (opt.handle_chinese_chars && is_cjk(c)) {
        out += ' ';
        append_utf8(out, c);
        out += ' ';
      } else {
        append_utf8(out, c);
      }
    }
    bool strip = opt.strip_accents < 0 ? opt.lowercase : opt.strip_accents == 1;
    if (strip) {
      utf8proc_uint8_t* nfd = utf8proc_NFD(reinterpret_cast<const utf8proc_uint8_t*>(out.c_str()));
      if (!nfd) throw runtime_error("WordPiece: Unicode decomposition failed (out of memory?)");
      std::string decomposed(reinterpret_cast<char*>(nfd));
      std::free(nfd);
      out.clear();
      for (int32_t c : code_points(decomposed))
        if (utf8proc_category(c) != UTF8PROC_CATEGORY_MN) append_utf8(out, c);
    }
    if (opt.lowercase) {
      std::string lower;
      lower.reserve(out.size());
      for (int32_t c : code_points(out)) {
        if (c == 0x130) {  // İ: the full mapping is i + combining dot above (Rust's to_lowercase)
          lower += 'i';
          append_utf8(lower, 0x307);
        } else {
          append_utf8(lower, utf8proc_tolower(c));
        }
      }
      out.swap(lower);
    }
    return out;
  }

  std::vector<std::string> pre_tokenize(std::string_view normalized) const {
    std::vector<std::string> words;
    std::string cur;
    auto flush = [&] {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    };
    for (int32_t c : code_points(normalized)) {
      if (is_whitespace(c)) {
        flush();
      } else if (is_punctuation(c)) {
        flush();
        append_utf8(cur, c);
        flush();
      } else {
        append_utf8(cur, c);
      }
    }
    flush();
    return words;
  }

  void word_pieces(const std::string& word, std::vector<int32_t>& out) const {
    auto cps = code_points(word);
    if (static_cast<int>(cps.size()) > opt.max_input_chars_per_word) {
      out.push_back(unk);
      return;
    }
    // Byte offset of each code point, and the end.
    std::vector<size_t> at;
    at.reserve(cps.size() + 1);
    size_t off = 0;
    for (int32_t c : cps) {
      at.push_back(off);
      utf8proc_uint8_t buf[4];
      off += static_cast<size_t>(utf8proc_encode_char(c, buf));
    }
    at.push_back(off);
    size_t before = out.size();
    size_t start = 0;
    std::string piece;
    while (start < cps.size()) {
      size_t end = cps.size();
      int32_t found = -1;
      while (end > start) {
        piece.assign(start > 0 ? opt.prefix : std::string());
        piece.append(word, at[start], at[end] - at[start]);
        auto it = ids.find(piece);
        if (it != ids.end()) {
          found = it->second;
          break;
        }
        --end;
      }
      if (found < 0) {  // one piece missing: the whole word is unknown
        out.resize(before);
        out.push_back(unk);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }

  void encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    for (const auto& w : pre_tokenize(normalize(text))) word_pieces(w, out);
  }
};

WordPieceTokenizer::WordPieceTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

WordPieceTokenizer WordPieceTokenizer::from_vocab(std::vector<std::string> vocab,
                                                  WordPieceOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(opts);
  impl->vocab = std::move(vocab);
  impl->finish("vocab.txt");
  return WordPieceTokenizer(std::move(impl));
}

WordPieceTokenizer WordPieceTokenizer::from_tokenizer_json(const std::string& text,
                                                           const std::string& name) {
  auto impl = std::make_unique<Impl>();
  auto& o = impl->opt;
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      throw runtime_error(fmt::format("{}: no \"model\" object", name),
                          "is this a Hugging Face tokenizer.json?");
    const auto& m = j["model"];
    if (!m.contains("type") || m["type"] != "WordPiece")
      throw runtime_error(fmt::format("{}: model.type is {}, not WordPiece", name,
                                      m.contains("type") ? str_of(m["type"]) : "absent"));
    if (!m.contains("vocab") || !m["vocab"].is_object())
      throw runtime_error(fmt::format("{}: model.vocab must be an object of token -> id", name));
    const auto& v = m["vocab"];
    if (v.size() > kMaxVocab)
      throw runtime_error(fmt::format("{}: {} tokens is more than {}", name, v.size(), kMaxVocab));
    impl->vocab.assign(v.size(), std::string());
    std::vector<bool> seen(v.size(), false);
    for (auto& [tok, id] : v.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() >= static_cast<int64_t>(v.size()))
        throw runtime_error(fmt::format("{}: model.vocab['{}'] is {}; ids must be 0..{}", name,
                                        escape_control(tok.substr(0, 40)), id.dump(),
                                        v.size() - 1));
      auto i = id.get<size_t>();
      if (seen[i]) throw runtime_error(fmt::format("{}: model.vocab gives id {} twice", name, i));
      seen[i] = true;
      impl->vocab[i] = tok;
    }
    if (m.contains("unk_token") && m["unk_token"].is_string())
      o.unk = m["unk_token"].get<std::string>();
    if (m.contains("continuing_subword_prefix") && m["continuing_subword_prefix"].is_string())
      o.prefix = m["continuing_subword_prefix"].get<std::string>();
    if (m.contains("max_input_chars_per_word") && m["max_input_chars_per_word"].is_number_integer())
      o.max_input_chars_per_word = static_cast<int>(
          std::clamp<int64_t>(m["max_input_chars_per_word"].get<int64_t>(), 1, 1 << 20));

    // The normalizer, pre-tokenizer and post-processor BERT uses, or none; anything else is
    // another pipeline, refused rather than run differently.
    const auto& n = j.value("normalizer", nlohmann::json());
    if (n.is_null()) {
      o.clean_text = o.handle_chinese_chars = o.lowercase = false;
      o.strip_accents = 0;
    } else if (n.is_object() && n.value("type", "") == "BertNormalizer") {
      o.clean_text = n.value("clean_text", true);
      o.handle_chinese_chars = n.value("handle_chinese_chars", true);
      o.lowercase = n.value("lowercase", true);
      o.strip_accents = !n.contains("strip_accents") || n["strip_accents"].is_null()
                            ? -1
                            : n["strip_accents"].get<bool>();
    } else {
      throw runtime_error(
          fmt::format("{}: normalizer {} is not supported", name,
                      n.is_object() ? str_of(n.value("type", nlohmann::json("?"))) : n.dump()),
          "xops runs BERT's own pipeline: BertNormalizer, BertPreTokenizer, WordPiece");
    }
    const auto& pt = j.value("pre_tokenizer", nlohmann::json());
    if (!pt.is_object() || pt.value("type", "") != "BertPreTokenizer")
      throw runtime_error(
          fmt::format("{}: pre_tokenizer {} is not supported", name,
                      pt.is_object() ? str_of(pt.value("type", nlohmann::json("?"))) : pt.dump()),
          "xops runs BERT's own pipeline: BertNormalizer, BertPreTokenizer, WordPiece");
    const auto& pp = j.value("post_processor", nlohmann::json());
    if (pp.is_null()) {
      o.add_special = false;
    } else if (pp.value("type", "") == "BertProcessing") {
      o.cls = str_of(pp.at("cls").at(0)), o.sep = str_of(pp.at("sep").at(0));
    } else if (pp.value("type", "") == "TemplateProcessing") {
      // Only "[CLS] $A [SEP]" shapes: a first special, the sequence, a last special.
      const auto& single = pp.at("single");
      if (!single.is_array() || single.size() != 3 || !single[0].contains("SpecialToken") ||
          !single[1].contains("Sequence") || !single[2].contains("SpecialToken"))
        throw runtime_error(
            fmt::format("{}: post_processor.single {} is not [CLS] $A [SEP]", name, single.dump()));
      o.cls = str_of(single[0]["SpecialToken"].at("id")),
      o.sep = str_of(single[2]["SpecialToken"].at("id"));
    } else {
      throw runtime_error(fmt::format("{}: post_processor {} is not supported", name,
                                      str_of(pp.value("type", nlohmann::json("?")))));
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("content") || !t["content"].is_string() ||
            !t.contains("id") || !t["id"].is_number_integer())
          throw runtime_error(
              fmt::format("{}: an added token needs a string content and an integer id", name));
        auto id = t["id"].get<int64_t>();
        if (id < 0 || id >= static_cast<int64_t>(impl->vocab.size()))
          throw runtime_error(
              fmt::format("{}: added token '{}' has id {} outside the vocabulary", name,
                          escape_control(t["content"].get<std::string>().substr(0, 40)), id));
        if (!t["content"].get<std::string>().empty())
          impl->added.emplace_back(t["content"].get<std::string>(), static_cast<int32_t>(id));
      }
    }
    const auto& pad = j.value("padding", nlohmann::json());
    if (pad.is_object() && pad.contains("pad_token") && pad["pad_token"].is_string())
      o.pad = pad["pad_token"];
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid tokenizer JSON: {}", name, json_error(e)));
  }
  impl->finish(name);
  return WordPieceTokenizer(std::move(impl));
}

WordPieceTokenizer WordPieceTokenizer::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir / "tokenizer.json", ec))
    return from_tokenizer_json(
        read_file_limited(dir / "tokenizer.json", kMaxTokenizerBytes, "a tokenizer"),
        (dir / "tokenizer.json").string());
  if (!std::filesystem::exists(dir / "vocab.txt", ec))
    throw precondition_error(fmt::format("no WordPiece tokenizer in {}", dir.string()),
                             "an encoder directory needs tokenizer.json or vocab.txt");
  std::vector<std::string> vocab;
  auto text = read_file_limited(dir / "vocab.txt", kMaxTokenizerBytes, "a vocabulary");
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  WordPieceOptions o;
  if (std::filesystem::exists(dir / "tokenizer_config.json", ec)) {
    auto cfg_name = (dir / "tokenizer_config.json").string();
    try {
      auto c = nlohmann::json::parse(
          read_file_limited(dir / "tokenizer_config.json", 1 << 20, "a tokenizer config"));
      o.lowercase = c.value("do_lower_case", true);
      o.handle_chinese_chars = c.value("tokenize_chinese_chars", true);
      if (c.contains("strip_accents") && !c["strip_accents"].is_null())
        o.strip_accents = c["strip_accents"].get<bool>();
    } catch (const nlohmann::json::exception& e) {
      throw runtime_error(fmt::format("{}: {}", cfg_name, json_error(e)));
    }
  }
  return from_vocab(std::move(vocab), std::move(o));
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, size_t max_len) const {
  const auto& I = *impl_;
  std::vector<int32_t> out;
  if (I.opt.add_special) out.push_back(I.cls);
  // Added tokens split the raw text first (as HF's AddedVocabulary does), longest match first.
  size_t pos = 0, plain = 0;
  while (pos < text.size() && !I.added.empty()) {
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& a : I.added)
      if (text.compare(pos, a.first.size(), a.first) == 0) {
        hit = &a;
        break;
      }
    if (!hit) {
      ++pos;
      continue;
    }
    I.encode_plain(text.substr(plain, pos - plain), out);
    out.push_back(hit->second);
    pos += hit->first.size();
    plain = pos;
  }
  I.encode_plain(text.substr(plain), out);
  if (I.opt.add_special) out.push_back(I.sep);
  if (max_len > 0 && out.size() > max_len) {
    out.resize(max_len);
    if (I.opt.add_special && max_len >= 2) out.back() = I.sep;
  }
  return out;
}

std::string WordPieceTokenizer::normalize(std::string_view text) const {
  return impl_->normalize(text);
}
std::vector<std::string> WordPieceTokenizer::pre_tokenize(std::string_view n) const {
  return impl_->pre_tokenize(n);
}
const std::string& WordPieceTokenizer::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->vocab.size())
    throw runtime_error(fmt::format("token id {} is out of range", id));
  return impl_->vocab[static_cast<size_t>(id)];
}
int32_t WordPieceTokenizer::token_id(const std::string& t) const {
  auto it = impl_->ids.find(t);
  return it == impl_->ids.end() ? -1 : it->second;
}
size_t WordPieceTokenizer::vocab_size() const {
  return impl_->vocab.size();
}
int32_t WordPieceTokenizer::pad_id() const {
  return impl_->pad;
}

bool is_wordpiece_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir / "tokenizer.json", ec)) {
    try {
      auto j = nlohmann::json::parse(
          read_file_limited(dir / "tokenizer.json", kMaxTokenizerBytes, "a tokenizer"));
      return j.is_object() && j.contains("model") && j["model"].is_object() &&
             j["model"].value("type", "") == "WordPiece";
    } catch (const std::exception&) {
      return false;
    }
  }
  return std::filesystem::exists(dir / "vocab.txt", ec) &&
         !std::filesystem::exists(dir / "merges.txt", ec);
}

}  // namespace xops
