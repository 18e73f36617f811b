// The server's request framing (core/httplib/request_framing.hpp): Beast's parser with the
// limits `xops serve` sets, fed the bytes in the pieces a network might deliver, request after
// request as on a kept-alive connection. A parse error must map to an answer or a close; the
// body may never exceed the limit whatever its framing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/httplib/request_framing.hpp"

// Built with BOOST_ENABLE_ASSERT_HANDLER (fuzz/CMakeLists.txt) so Beast's own assertions stay
// findings, all but one: Boost 1.74 asserts `n >= 5` when a final chunk arrives a byte at a
// time ("0\r\n", then "\r"), where 4 bytes are legal and the code after the assertion answers
// need_more correctly (boostorg/beast#2861 relaxed it in 2024). The server is built with
// NDEBUG, so it runs the same code as this target does past that line.
namespace boost {
void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "http/impl/basic_parser.ipp")) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}
void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}
}  // namespace boost

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fr = xops::http::framing;
  constexpr size_t kHeader = 1024, kBody = 4096;
  // The first byte picks the piece size: 1..64 bytes per read.
  const size_t piece = size ? (data[0] % 64) + 1 : 1;
  std::string wire(reinterpret_cast<const char*>(data), size);
  if (!wire.empty()) wire.erase(0, 1);
  size_t pos = 0;
  for (int requests = 0; requests < 16 && pos < wire.size(); ++requests) {
    fr::Parser p;
    fr::limit(p, kHeader, kBody);
    p.eager(true);
    std::string pending;
    boost::system::error_code ec;
    while (!p.is_done() && pos < wire.size()) {
      pending.append(wire, pos, std::min(piece, wire.size() - pos));
      pos += std::min(piece, wire.size() - pos);
      size_t used = p.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == boost::beast::http::error::need_more) ec = {};
      // The server's read buffer holds at most this much unparsed (Beast 1.74 does not bound a
      // chunk line or the trailer itself).
      if (!ec && pending.size() >= fr::buffer_limit(kHeader))
        ec = boost::beast::http::error::buffer_overflow;
      if (ec) break;
    }
    if (ec) {
      auto why = fr::refusal(ec, kHeader, kBody);
      if (why.status != 0 && (why.status < 400 || why.status > 599)) std::abort();
      if (why.status != 0 && fr::error_body(why.message).find("\"error\"") == std::string::npos)
        std::abort();
      return 0;
    }
    if (!p.is_done()) return 0;                       // the rest has not arrived
    if (p.get().body().size() > kBody) std::abort();  // the limit held in every framing
    pos -= pending.size();  // bytes read past the request belong to the next one
  }
  return 0;
}
