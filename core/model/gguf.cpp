#include "core/model/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

// Bounds on what a file may declare, checked before anything is sized by it. Real models
// have hundreds of tensors and tens of keys; the largest arrays are vocabularies (~256k).
constexpr uint64_t kMaxTensors = 1u << 16;
constexpr uint64_t kMaxKeys = 1u << 16;
constexpr uint64_t kMaxString = 64u << 20;  // a chat template, a merges entry...
constexpr uint64_t kMaxArray = 1u << 24;
constexpr uint64_t kMaxDim = 1ull << 40;
constexpr uint64_t kMaxElements = 1ull << 42;
constexpr uint32_t kDefaultAlignment = 32;

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::BOOL:
      return 1;
    case GgufValueType::U16:
    case GgufValueType::I16:
      return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
      return 4;
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
      return 8;
    default:
      return 0;
  }
}

const char* value_type_name(GgufValueType t) {
  static const char* names[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                "int32",  "float32", "bool",   "string", "array",
                                "uint64", "int64",   "float64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

// A cursor over the header that refuses to read past the end.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& display)
      : p_(p), n_(n), display_(display) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw runtime_error(fmt::format("{}: invalid GGUF file at byte {}: {}", display_, pos_, what),
                        "the file is truncated or not GGUF; re-download or re-export it");
  }
  void need(size_t k, const char* what) const {
    if (k > left()) fail(fmt::format("{} needs {} bytes but {} remain", what, k, left()));
  }
  template <class T>
  T pod(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));  // little-endian on every platform we build for
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    auto len = pod<uint64_t>(what);
    if (len > kMaxString)
      fail(fmt::format("{} declares a string of {} bytes (limit {})", what, len, kMaxString));
    need(static_cast<size_t>(len), what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  const std::string& display_;
};

GgufValue read_scalar(Reader& r, GgufValueType t, const std::string& key) {
  GgufValue v;
  v.type = t;
  switch (t) {
    case GgufValueType::U8:
      v.u = r.pod<uint8_t>("a uint8");
      break;
    case GgufValueType::I8:
      v.i = r.pod<int8_t>("an int8");
      break;
    case GgufValueType::U16:
      v.u = r.pod<uint16_t>("a uint16");
      break;
    case GgufValueType::I16:
      v.i = r.pod<int16_t>("an int16");
      break;
    case GgufValueType::U32:
      v.u = r.pod<uint32_t>("a uint32");
      break;
    case GgufValueType::I32:
      v.i = r.pod<int32_t>("an int32");
      break;
    case GgufValueType::U64:
      v.u = r.pod<uint64_t>("a uint64");
      break;
    case GgufValueType::I64:
      v.i = r.pod<int64_t>("an int64");
      break;
    case GgufValueType::F32:
      v.f = r.pod<float>("a float32");
      break;
    case GgufValueType::F64:
      v.f = r.pod<double>("a float64");
      break;
    case GgufValueType::BOOL: {
      auto b = r.pod<uint8_t>("a bool");
      if (b > 1) r.fail(fmt::format("key '{}': bool value {} is neither 0 nor 1", key, b));
      v.b = b == 1;
      break;
    }
    case GgufValueType::STRING:
      v.s = r.str("a string value");
      break;
    default:
      r.fail(fmt::format("key '{}' has unknown value type {}", key, static_cast<uint32_t>(t)));
  }
  return v;
}

GgufValue read_value(Reader& r, GgufValueType t, const std::string& key) {
  if (t != GgufValueType::ARRAY) return read_scalar(r, t, key);
  GgufValue v;
  v.type = t;
  v.elem = static_cast<GgufValueType>(r.pod<uint32_t>("an array's element type"));
  if (v.elem == GgufValueType::ARRAY)
    r.fail(fmt::format("key '{}' is an array of arrays, which xops does not read", key));
  auto n = r.pod<uint64_t>("an array's length");
  // Every element takes at least one byte (a string at least its 8-byte length).
  size_t min_each = v.elem == GgufValueType::STRING ? 8 : scalar_size(v.elem);
  if (min_each == 0)
    r.fail(fmt::format("key '{}' has unknown element type {}", key, static_cast<uint32_t>(v.elem)));
  if (n > kMaxArray || n * min_each > r.left())
    r.fail(fmt::format("key '{}' declares {} elements, more than the file or the limit ({}) allows",
                       key, n, kMaxArray));
  v.arr.reserve(static_cast<size_t>(n));
  for (uint64_t k = 0; k < n; ++k) v.arr.push_back(read_scalar(r, v.elem, key));
  return v;
}

}  // namespace

GgufValue GgufValue::u32(uint32_t x) {
  GgufValue v;
  v.type = GgufValueType::U32;
  v.u = x;
  return v;
}
GgufValue GgufValue::i32(int32_t x) {
  GgufValue v;
  v.type = GgufValueType::I32;
  v.i = x;
  return v;
}
GgufValue GgufValue::f32(float x) {
  GgufValue v;
  v.type = GgufValueType::F32;
  v.f = x;
  return v;
}
GgufValue GgufValue::boolean(bool x) {
  GgufValue v;
  v.type = GgufValueType::BOOL;
  v.b = x;
  return v;
}
GgufValue GgufValue::str(std::string x) {
  GgufValue v;
  v.type = GgufValueType::STRING;
  v.s = std::move(x);
  return v;
}
GgufValue GgufValue::strings(const std::vector<std::string>& xs) {
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem = GgufValueType::STRING;
  for (const auto& x : xs) v.arr.push_back(str(x));
  return v;
}
GgufValue GgufValue::i32s(const std::vector<int32_t>& xs) {
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem = GgufValueType::I32;
  for (auto x : xs) v.arr.push_back(i32(x));
  return v;
}

std::vector<int64_t> GgufTensor::shape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4] = {};
  bool ok = ::read(fd, magic, 4) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  ::close(fd);
  return ok;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw runtime_error(fmt::format("cannot open {}: {}", path.string(), errno_text(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw runtime_error(fmt::format("{} is not a regular file", path.string()));
  }
  size_t size = static_cast<size_t>(st.st_size);
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->display_ = path.string();
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw runtime_error(fmt::format("cannot map {}: {}", path.string(), errno_text(err)));
    }
    f->map_ = map;
    f->map_size_ = size;
  }
  ::close(fd);
  f->parse_all(static_cast<const uint8_t*>(f->map_), size);
  return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(const uint8_t* data, size_t size,
                                          const std::string& display) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->display_ = display;
  f->parse_all(data, size);
  return f;
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(map_, map_size_);
}

void GgufFile::parse_all(const uint8_t* base, size_t size) {
  Reader r(base, size, display_);
  if (size < 4 || std::memcmp(base, "GGUF", 4) != 0) r.fail("no GGUF magic at the start");
  r.pod<uint32_t>("the magic");
  version_ = r.pod<uint32_t>("the version");
  if (version_ != 2 && version_ != 3)
    r.fail(fmt::format("GGUF version {} (xops reads versions 2 and 3)", version_));
  auto n_tensors = r.pod<uint64_t>("the tensor count");
  auto n_kv = r.pod<uint64_t>("the key count");
  if (n_tensors > kMaxTensors)
    r.fail(fmt::format("{} tensors declared (limit {})", n_tensors, kMaxTensors));
  if (n_kv > kMaxKeys) r.fail(fmt::format("{} metadata keys declared (limit {})", n_kv, kMaxKeys));
  std::set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    auto key = r.str("a metadata key");
    if (!keys.insert(key).second) r.fail(fmt::format("metadata key '{}' appears twice", key));
    auto t = static_cast<GgufValueType>(r.pod<uint32_t>("a value type"));
    kv_.emplace_back(key, read_value(r, t, key));
  }
  uint64_t alignment = kDefaultAlignment;
  if (const auto* a = find("general.alignment")) {
    if (a->type != GgufValueType::U32 || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 16))
      r.fail("general.alignment must be a uint32 power of two (at most 65536)");
    alignment = a->u;
  }
  std::set<std::string> names;
  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    t.name = r.str("a tensor name");
    if (t.name.empty() || t.name.size() > 256)
      r.fail(fmt::format("tensor {} has a name of {} bytes", k, t.name.size()));
    if (!names.insert(t.name).second) r.fail(fmt::format("tensor '{}' appears twice", t.name));
    auto n_dims = r.pod<uint32_t>("a tensor's dimension count");
    if (n_dims < 1 || n_dims > 4)
      r.fail(fmt::format("tensor '{}' has {} dimensions (1..4)", t.name, n_dims));
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      auto ne = r.pod<uint64_t>("a tensor dimension");
      if (ne < 1 || ne > kMaxDim)
        r.fail(fmt::format("tensor '{}' has dimension {} = {}", t.name, d, ne));
      // Checked before multiplying: 2^40 x 2^40 wraps a uint64 to 0.
      if (ne > kMaxElements / elements)
        r.fail(fmt::format("tensor '{}' has more than 2^42 elements", t.name));
      elements *= ne;
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    auto type = r.pod<uint32_t>("a tensor type");
    if (!ggml_type_supported(type))
      r.fail(
          fmt::format("tensor '{}' is of type {}, which xops does not read (F32, F16, BF16, Q8_0)",
                      t.name, ggml_type_name(type)));
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % ggml_block_size(t.type) != 0)
      r.fail(fmt::format("tensor '{}': its row length {} is not a multiple of {}'s block of {}",
                         t.name, t.ne[0], ggml_type_name(type), ggml_block_size(t.type)));
    t.nbytes = static_cast<size_t>(elements / ggml_block_size(t.type) * ggml_block_bytes(t.type));
    t.offset = r.pod<uint64_t>("a tensor offset");
    if (t.offset % alignment != 0)
      r.fail(fmt::format("tensor '{}' starts at offset {}, not a multiple of the alignment {}",
                         t.name, t.offset, alignment));
    tensors_.push_back(std::move(t));
  }
  size_t data_start = (r.pos() + alignment - 1) / alignment * alignment;
  if (data_start > size && !tensors_.empty()) r.fail("the data section is missing");
  size_t data_size = data_start <= size ? size - data_start : 0;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      r.fail(fmt::format(
          "tensor '{}' ({} bytes at offset {}) runs past the end of the data section ({} bytes)",
          t.name, t.nbytes, t.offset, data_size));
    t.data = base + data_start + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

namespace {
[[noreturn]] void wrong_type(const std::string& display, const std::string& key, const GgufValue& v,
                             const char* want) {
  throw runtime_error(
      fmt::format("{}: metadata key '{}' is a {}, expected {}", display, key,
                  value_type_name(v.type), want),
      "the file was written by a tool that does not follow the GGUF key conventions");
}
}  // namespace

std::optional<uint64_t> GgufFile::get_uint(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  switch (v->type) {
    case GgufValueType::U8:
    case GgufValueType::U16:
    case GgufValueType::U32:
    case GgufValueType::U64:
      return v->u;
    case GgufValueType::I8:
    case GgufValueType::I16:
    case GgufValueType::I32:
    case GgufValueType::I64:
      if (v->i >= 0) return static_cast<uint64_t>(v->i);
      [[fallthrough]];
    default:
      wrong_type(display_, key, *v, "a non-negative integer");
  }
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufValueType::F32 || v->type == GgufValueType::F64) return v->f;
  wrong_type(display_, key, *v, "a float");
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufValueType::BOOL) return v->b;
  wrong_type(display_, key, *v, "a bool");
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufValueType::STRING) return v->s;
  wrong_type(display_, key, *v, "a string");
}

const GgufTensor* GgufFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

class Out {
 public:
  explicit Out(std::string& s) : s_(s) {}
  template <class T>
  void pod(T v) {
    s_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& x) {
    pod<uint64_t>(x.size());
    s_ += x;
  }
  void scalar(const GgufValue& v, GgufValueType t) {
    switch (t) {
      case GgufValueType::U8:
        pod<uint8_t>(static_cast<uint8_t>(v.u));
        break;
      case GgufValueType::I8:
        pod<int8_t>(static_cast<int8_t>(v.i));
        break;
      case GgufValueType::U16:
        pod<uint16_t>(static_cast<uint16_t>(v.u));
        break;
      case GgufValueType::I16:
        pod<int16_t>(static_cast<int16_t>(v.i));
        break;
      case GgufValueType::U32:
        pod<uint32_t>(static_cast<uint32_t>(v.u));
        break;
      case GgufValueType::I32:
        pod<int32_t>(static_cast<int32_t>(v.i));
        break;
      case GgufValueType::U64:
        pod<uint64_t>(v.u);
        break;
      case GgufValueType::I64:
        pod<int64_t>(v.i);
        break;
      case GgufValueType::F32:
        pod<float>(static_cast<float>(v.f));
        break;
      case GgufValueType::F64:
        pod<double>(v.f);
        break;
      case GgufValueType::BOOL:
        pod<uint8_t>(v.b ? 1 : 0);
        break;
      case GgufValueType::STRING:
        str(v.s);
        break;
      case GgufValueType::ARRAY:
        throw std::logic_error("nested GGUF arrays are not written");
    }
  }

 private:
  std::string& s_;
};

}  // namespace

void write_gguf(const std::filesystem::path& path,
                const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<GgufTensorToWrite>& tensors) {
  std::string h;
  Out o(h);
  h += "GGUF";
  o.pod<uint32_t>(3);
  o.pod<uint64_t>(tensors.size());
  o.pod<uint64_t>(kv.size());
  for (const auto& [key, v] : kv) {
    o.str(key);
    o.pod<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == GgufValueType::ARRAY) {
      o.pod<uint32_t>(static_cast<uint32_t>(v.elem));
      o.pod<uint64_t>(v.arr.size());
      for (const auto& e : v.arr) o.scalar(e, v.elem);
    } else {
      o.scalar(v, v.type);
    }
  }
  auto pad = [](uint64_t n) {
    return (n + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
  };
  uint64_t off = 0;
  for (const auto& t : tensors) {
    o.str(t.name);
    o.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it)
      o.pod<uint64_t>(static_cast<uint64_t>(*it));
    o.pod<uint32_t>(static_cast<uint32_t>(t.type));
    o.pod<uint64_t>(off);
    off = pad(off + t.bytes.size());
  }
  h.resize(pad(h.size()), '\0');
  AtomicFileWriter out(path);
  out.write(h.data(), h.size());
  static const char zeros[kDefaultAlignment] = {};
  for (const auto& t : tensors) {
    out.write(t.bytes.data(), t.bytes.size());
    out.write(zeros, pad(t.bytes.size()) - t.bytes.size());
  }
  out.commit();
}

}  // namespace xops
