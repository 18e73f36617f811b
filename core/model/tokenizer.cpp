#include "core/model/tokenizer.hpp"
#include "core/util/json_error.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>

#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/model/gguf_model.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's reversible byte -> printable code point table.
std::vector<uint32_t> bytes_to_unicode() {
  std::vector<uint32_t> table(256, 0);
  std::vector<bool> direct(256, false);
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  uint32_t n = 0;
  for (int b = 0; b < 256; ++b) table[b] = direct[b] ? b : 256 + n++;
  return table;
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

struct Regex {
  pcre2_code* code = nullptr;
  explicit Regex(const char* pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &off, nullptr);
    if (!code) throw runtime_error("internal: cannot compile the pre-tokenizer regex");
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code); }
};

const Regex& gpt2_regex() {
  static Regex r(kGpt2Pattern);
  return r;
}

}  // namespace

size_t complete_utf8_prefix(std::string_view s) {
  size_t i = s.size();
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t k = 0;
  while (k < 4 && i > 0) {
    unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {
      size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
      return (k + 1 >= need) ? s.size() : i - 1;
    }
    --i;
    ++k;
  }
  return s.size();  // stray continuation bytes: nothing to wait for
}

// Far above any real vocabulary (the largest are ~256k); ids beyond it are corrupt.
constexpr int64_t kMaxTokenId = 1 << 24;
// tokenizer.json of Llama-3 is ~9 MB; a 256 MiB file is no tokenizer.
constexpr uint64_t kMaxTokenizerBytes = 256ull << 20;

// A token id read from a vocabulary file: an integer that fits the id space (the tighter
// bound, relative to the file's size, is Impl::validate's).
static int32_t json_token_id(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number_integer()) throw runtime_error(fmt::format("{} is not an integer id", where));
  auto id = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                                          : v.get<int64_t>();
  if (id < 0 || id >= kMaxTokenId)
    throw runtime_error(fmt::format("{} has id {}, outside 0..{}", where, id, kMaxTokenId - 1));
  return static_cast<int32_t>(id);
}

struct Tokenizer::Impl {
  std::vector<std::string> id_to_bytes;          // raw bytes of each id
  std::vector<std::string> id_to_text;           // vocab form (byte-to-unicode chars)
  std::unordered_map<std::string, int32_t> text_to_id;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a,b) -> (rank, merged)
  std::vector<std::pair<std::string, std::string>> merge_list;       // for saving
  std::vector<std::pair<std::string, int32_t>> specials;             // text, id (longest first)
  int32_t byte_id[256];
  bool byte_level_vocab = false;

  mutable std::shared_mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  // Ids come from files someone else wrote: bound them before sizing any table by them
  // (-1 once corrupted the heap; 100,000,000 allocated 6.4 GB before any other check).
  void validate(const std::string& source) const {
    const size_t entries = text_to_id.size() + specials.size();
    const int64_t limit = std::min<int64_t>(kMaxTokenId, static_cast<int64_t>(entries) * 4 + 1024);
    auto check = [&](const std::string& text, int32_t id, const char* where) {
      if (id < 0 || id >= limit)
        throw runtime_error(fmt::format("{}: {} token '{}' has id {}, outside 0..{} ({} tokens in the file)", source,
                                        where, text.substr(0, 40), id, limit - 1, entries),
                            "token ids must be small non-negative integers: is this file corrupt?");
    };
    for (const auto& [text, id] : text_to_id) check(text, id, "vocabulary");
    for (const auto& [text, id] : specials) {
      check(text, id, "added");
      if (text.empty())
        throw runtime_error(fmt::format("{}: added token {} has empty content", source, id),
                            "every added token needs its text");
    }
    if (merges.empty() && text_to_id.size() > 256 + specials.size())
      throw runtime_error(fmt::format("{}: {} vocabulary entries but no merges", source, text_to_id.size()),
                          "a BPE tokenizer needs its merges (merges.txt or model.merges); only a plain "
                          "byte vocabulary may have none");
  }

  void finish() {
    auto b2u = bytes_to_unicode();
    std::vector<std::string> b2u_str(256);
    for (int b = 0; b < 256; ++b) b2u_str[b] = utf8(b2u[b]);
    std::unordered_map<std::string, unsigned char> u2b;
    for (int b = 0; b < 256; ++b) u2b[b2u_str[b]] = static_cast<unsigned char>(b);
    for (int b = 0; b < 256; ++b) {
      auto it = text_to_id.find(b2u_str[b]);
      if (it == text_to_id.end())
        throw runtime_error(fmt::format("tokenizer vocabulary lacks the byte token for 0x{:02x}", b),
                            "only byte-level BPE vocabularies (GPT-2 style) are supported");
      byte_id[b] = it->second;
    }
    size_t n = 0;
    for (const auto& kv : text_to_id) n = std::max<size_t>(n, static_cast<size_t>(kv.second) + 1);
    for (const auto& s : specials) n = std::max<size_t>(n, static_cast<size_t>(s.second) + 1);
    id_to_text.assign(n, "");
    id_to_bytes.assign(n, "");
    for (const auto& [text, id] : text_to_id) {
      id_to_text[id] = text;
      std::string bytes;
      for (size_t i = 0; i < text.size();) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        auto it = u2b.find(text.substr(i, len));
        if (it == u2b.end()) {  // not byte-level text (an added token): keep as is
          bytes = text;
          break;
        }
        bytes += static_cast<char>(it->second);
        i += len;
      }
      id_to_bytes[id] = bytes;
    }
    for (const auto& [text, id] : specials) {
      id_to_text[id] = text;
      id_to_bytes[id] = text;
    }
    std::sort(specials.begin(), specials.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }

  void add_merge(const std::string& a, const std::string& b, int32_t rank) {
    auto ia = text_to_id.find(a), ib = text_to_id.find(b), im = text_to_id.find(a + b);
    if (ia == text_to_id.end() || ib == text_to_id.end() || im == text_to_id.end())
      throw runtime_error(fmt::format("merge '{} {}' (rank {}) names tokens missing from the vocabulary", a, b, rank));
    uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
    merges.emplace(key, std::make_pair(rank, im->second));
    merge_list.emplace_back(a, b);
  }

  // BPE over one pre-token's bytes.
  std::vector<int32_t> bpe(std::string_view piece) const {
    std::vector<int32_t> syms;
    syms.reserve(piece.size());
    for (unsigned char c : piece) syms.push_back(byte_id[c]);
    if (merges.empty() || syms.size() < 2) return syms;
    while (syms.size() > 1) {
      int32_t best_rank = INT32_MAX, best_id = -1;
      size_t best_i = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        uint64_t key = (static_cast<uint64_t>(syms[i]) << 32) | static_cast<uint32_t>(syms[i + 1]);
        auto it = merges.find(key);
        if (it != merges.end() && it->second.first < best_rank) {
          best_rank = it->second.first;
          best_id = it->second.second;
          best_i = i;
        }
      }
      if (best_id < 0) break;
      // Merge every occurrence of the best pair, left to right.
      int32_t a = syms[best_i], b = syms[best_i + 1];
      std::vector<int32_t> next;
      next.reserve(syms.size());
      for (size_t i = 0; i < syms.size();) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          next.push_back(best_id);
          i += 2;
        } else {
          next.push_back(syms[i++]);
        }
      }
      syms.swap(next);
    }
    return syms;
  }

  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
    if (merges.empty()) {
      for (unsigned char c : text) out.push_back(byte_id[c]);
      return;
    }
    const auto& re = gpt2_regex();
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re.code, nullptr);
    PCRE2_SIZE start = 0;
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    while (start < text.size()) {
      int rc = pcre2_match(re.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // cannot happen with this pattern; guard against a loop
        ++start;
        continue;
      }
      std::string piece(text.substr(ov[0], ov[1] - ov[0]));
      {
        std::shared_lock<std::shared_mutex> lock(cache_mu);
        auto it = cache.find(piece);
        if (it != cache.end()) {
          out.insert(out.end(), it->second.begin(), it->second.end());
          start = ov[1];
          continue;
        }
      }
      auto ids = bpe(piece);
      out.insert(out.end(), ids.begin(), ids.end());
      {
        std::unique_lock<std::shared_mutex> lock(cache_mu);
        if (cache.size() < 200000) cache.emplace(std::move(piece), std::move(ids));
      }
      start = ov[1];
    }
    pcre2_match_data_free(md);
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer Tokenizer::clone() const {
  auto impl = std::make_unique<Impl>();
  impl->id_to_bytes = impl_->id_to_bytes;
  impl->id_to_text = impl_->id_to_text;
  impl->text_to_id = impl_->text_to_id;
  impl->merges = impl_->merges;
  impl->merge_list = impl_->merge_list;
  impl->specials = impl_->specials;
  std::copy(std::begin(impl_->byte_id), std::end(impl_->byte_id), std::begin(impl->byte_id));
  impl->byte_level_vocab = impl_->byte_level_vocab;
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

static void check_utf8(std::string_view text) {
  int err = 0;
  PCRE2_SIZE off = 0;
  // Compile a trivial pattern once just to validate with PCRE2's UTF checker.
  static Regex any(".");
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  err = pcre2_match(any.code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, md, nullptr);
  off = pcre2_get_startchar(md);
  pcre2_match_data_free(md);
  if (err <= PCRE2_ERROR_UTF8_ERR1 && err >= PCRE2_ERROR_UTF8_ERR21)
    throw usage_error(fmt::format("text is not valid UTF-8 (byte offset {})", off));
}

Tokenizer Tokenizer::from_files(const std::filesystem::path& vocab_json,
                                const std::filesystem::path& merges_txt) {
  auto impl = std::make_unique<Impl>();
  try {
    auto j = nlohmann::json::parse(read_file_limited(vocab_json, kMaxTokenizerBytes, "a vocabulary"));
    if (!j.is_object()) throw runtime_error(fmt::format("{}: not a vocabulary JSON object", vocab_json.string()));
    for (auto& [k, v] : j.items())
      impl->text_to_id[k] = json_token_id(v, fmt::format("{}: token '{}'", vocab_json.string(), k.substr(0, 40)));
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(
        fmt::format("{}: not a vocabulary JSON object: {}", vocab_json.string(), json_error(e)));
  }
  auto merges = read_file_limited(merges_txt, kMaxTokenizerBytes, "a merges file");
  int32_t rank = 0;
  size_t pos = 0, line_no = 0;
  while (pos < merges.size()) {
    auto end = merges.find('\n', pos);
    std::string line = merges.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? merges.size() : end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    auto sp = line.find(' ');
    if (sp == std::string::npos)
      throw runtime_error(fmt::format("{}:{}: a merge needs two tokens separated by a space", merges_txt.string(), line_no));
    try {
      impl->add_merge(line.substr(0, sp), line.substr(sp + 1), rank++);
    } catch (const Error& e) {
      throw runtime_error(fmt::format("{}:{}: {}", merges_txt.string(), line_no, e.what()));
    }
  }
  if (auto eot = impl->text_to_id.find("<|endoftext|>"); eot != impl->text_to_id.end())
    impl->specials.emplace_back(eot->first, eot->second);
  impl->validate(vocab_json.string() + " + " + merges_txt.filename().string());
  impl->finish();
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_tokenizer_json(const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
  const auto name = file.string();
  // Every shape and type below comes from the file: a wrong one is an error naming the file
  // and the key, never bare JSON-library text.
  try {
    auto j = nlohmann::json::parse(read_file_limited(file, kMaxTokenizerBytes, "a tokenizer"));
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
      throw runtime_error(fmt::format("{}: no \"model\" object", name), "is this a Hugging Face tokenizer.json?");
    const auto& model = j["model"];
    if (model.contains("type") && !model["type"].is_null() && model["type"] != "BPE")
      throw runtime_error(fmt::format("{}: tokenizer model type '{}' is not supported", name,
                                      model["type"].is_string() ? model["type"].get<std::string>() : model["type"].dump()),
                          "xops supports byte-level BPE tokenizers (GPT-2, Llama-3 style)");
    if (!model.contains("vocab") || !model["vocab"].is_object())
      throw runtime_error(fmt::format("{}: model.vocab must be an object of token -> id", name));
    for (auto& [k, v] : model["vocab"].items())
      impl->text_to_id[k] = json_token_id(v, fmt::format("{}: model.vocab['{}']", name, k.substr(0, 40)));
    if (!model.contains("merges") || !model["merges"].is_array())
      throw runtime_error(fmt::format("{}: model.merges must be a list (it is {})", name,
                                      model.contains("merges") ? model["merges"].type_name() : "absent"));
    int32_t rank = 0;
    for (const auto& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        auto str = m.get<std::string>();
        auto sp = str.find(' ');
        if (sp == std::string::npos)
          throw runtime_error(fmt::format("{}: model.merges[{}] '{}' is not two tokens separated by a space", name,
                                          rank, str.substr(0, 40)));
        a = str.substr(0, sp), b = str.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>(), b = m[1].get<std::string>();
      } else {
        throw runtime_error(fmt::format("{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"]", name, rank));
      }
      impl->add_merge(a, b, rank++);
    }
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      if (!j["added_tokens"].is_array()) throw runtime_error(fmt::format("{}: added_tokens must be a list", name));
      size_t i = 0;
      for (const auto& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id"))
          throw runtime_error(fmt::format("{}: added_tokens[{}] needs a string content and an integer id", name, i));
        impl->specials.emplace_back(t["content"].get<std::string>(),
                                    json_token_id(t["id"], fmt::format("{}: added_tokens[{}]", name, i)));
        ++i;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw runtime_error(fmt::format("{}: invalid tokenizer JSON: {}", name, json_error(e)));
  }
  impl->validate(name);
  impl->finish();
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_vocab(const std::vector<std::string>& tokens,
                                const std::vector<std::string>& merges,
                                const std::vector<int32_t>& types, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  if (tokens.size() > static_cast<size_t>(kMaxTokenId))
    throw runtime_error(
        fmt::format("{}: {} tokens (limit {})", source, tokens.size(), kMaxTokenId));
  for (size_t id = 0; id < tokens.size(); ++id) {
    bool added = id < types.size() && (types[id] == 3 || types[id] == 4);
    if (added) {
      if (tokens[id].empty()) continue;  // an unused slot: never matched, decodes to nothing
      impl->specials.emplace_back(tokens[id], static_cast<int32_t>(id));
    }
    if (!impl->text_to_id.emplace(tokens[id], static_cast<int32_t>(id)).second && !added)
      throw runtime_error(fmt::format("{}: token '{}' appears twice (ids {} and {})", source,
                                      tokens[id].substr(0, 40), impl->text_to_id[tokens[id]], id),
                          "is this file corrupt?");
  }
  int32_t rank = 0;
  for (const auto& m : merges) {
    auto sp = m.find(' ');
    if (sp == std::string::npos)
      throw runtime_error(fmt::format("{}: merge {} '{}' is not two tokens separated by a space",
                                      source, rank, m.substr(0, 40)));
    try {
      impl->add_merge(m.substr(0, sp), m.substr(sp + 1), rank++);
    } catch (const Error& e) {
      throw runtime_error(fmt::format("{}: {}", source, e.what()));
    }
  }
  impl->byte_level_vocab = merges.empty();
  impl->validate(source);
  impl->finish();
  // Ids without a token (gaps) keep an empty text; the vocabulary is as long as the list.
  if (impl->id_to_text.size() < tokens.size()) {
    impl->id_to_text.resize(tokens.size());
    impl->id_to_bytes.resize(tokens.size());
  }
  return Tokenizer(std::move(impl));
}

std::vector<std::string> Tokenizer::token_texts() const {
  return impl_->id_to_text;
}

std::vector<std::string> Tokenizer::merge_texts() const {
  std::vector<std::string> out;
  out.reserve(impl_->merge_list.size());
  for (const auto& [a, b] : impl_->merge_list) out.push_back(a + " " + b);
  return out;
}

Tokenizer Tokenizer::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (is_gguf_file(dir)) return gguf_tokenizer(*GgufFile::open(dir));
  if (std::filesystem::exists(dir / "tokenizer.json", ec)) return from_tokenizer_json(dir / "tokenizer.json");
  if (std::filesystem::exists(dir / "vocab.json", ec) && std::filesystem::exists(dir / "merges.txt", ec))
    return from_files(dir / "vocab.json", dir / "merges.txt");
  throw precondition_error(fmt::format("no tokenizer in {}", dir.string()),
                           "a model directory needs tokenizer.json, or vocab.json + merges.txt");
}

Tokenizer Tokenizer::byte_level(const std::vector<std::string>& specials) {
  auto impl = std::make_unique<Impl>();
  auto b2u = bytes_to_unicode();
  for (int b = 0; b < 256; ++b) impl->text_to_id[utf8(b2u[b])] = b;
  int32_t next = 256;
  for (const auto& s : specials) {
    impl->text_to_id[s] = next;
    impl->specials.emplace_back(s, next++);
  }
  impl->byte_level_vocab = true;
  impl->finish();
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  check_utf8(text);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (!parse_special || impl_->specials.empty()) {
    impl_->encode_ordinary(text, out);
    return out;
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t best = std::string_view::npos;
    const std::pair<std::string, int32_t>* which = nullptr;
    for (const auto& s : impl_->specials) {
      if (s.first.empty()) continue;  // refused at load; never let "" match forever
      auto p = text.find(s.first, start);
      if (p < best) best = p, which = &s;
    }
    impl_->encode_ordinary(text.substr(start, best == std::string_view::npos ? std::string_view::npos : best - start), out);
    if (!which) break;
    out.push_back(which->second);
    start = best + which->first.size();
  }
  return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_bytes.size())
    throw usage_error(fmt::format("token id {} is outside the vocabulary (0..{})", id, impl_->id_to_bytes.size() - 1));
  return impl_->id_to_bytes[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (auto id : ids) {
    if (skip_special && is_special(id)) continue;
    out += token_bytes(id);
  }
  return out;
}

size_t Tokenizer::vocab_size() const { return impl_->id_to_bytes.size(); }

int32_t Tokenizer::token_id(const std::string& t) const {
  auto it = impl_->text_to_id.find(t);
  return it == impl_->text_to_id.end() ? special_id(t) : it->second;
}

int32_t Tokenizer::special_id(const std::string& text) const {
  for (const auto& s : impl_->specials)
    if (s.first == text) return s.second;
  return -1;
}

bool Tokenizer::is_special(int32_t id) const {
  for (const auto& s : impl_->specials)
    if (s.second == id) return true;
  return false;
}

bool Tokenizer::is_byte_level() const { return impl_->byte_level_vocab; }

void Tokenizer::save(const std::filesystem::path& dir) const {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::vector<std::pair<int32_t, std::string>> by_id;
  for (const auto& [t, id] : impl_->text_to_id) by_id.emplace_back(id, t);
  std::sort(by_id.begin(), by_id.end());
  for (const auto& [id, t] : by_id) vocab[t] = id;
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : impl_->merge_list) {
    merges.push_back(a + " " + b);
    merges_txt += a + " " + b + "\n";
  }
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (auto s : impl_->specials)
    added.push_back({{"id", s.second}, {"content", s.first}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a["id"] < b["id"]; });
  nlohmann::ordered_json tok = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                 {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}}}};
  std::filesystem::create_directories(dir);
  atomic_write_file(dir / "tokenizer.json", tok.dump(2));
  atomic_write_file(dir / "vocab.json", vocab.dump());
  atomic_write_file(dir / "merges.txt", merges_txt);
}

std::string Tokenizer::StreamDecoder::push(int32_t id) {
  pending_ += t_.token_bytes(id);
  size_t n = complete_utf8_prefix(pending_);
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::string Tokenizer::StreamDecoder::flush() {
  std::string out;
  for (unsigned char c : pending_) out += c < 0x80 ? std::string(1, static_cast<char>(c)) : "\xEF\xBF\xBD";
  pending_.clear();
  return out;
}

}  // namespace xops
