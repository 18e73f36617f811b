#pragma once
// How the server reads one HTTP/1.1 request off the wire with Beast's parser, and what it
// answers when the framing is wrong or too large. Shared by the server and its fuzz target
// (fuzz/fuzz_http_request.cpp), so the fuzzer exercises exactly the limits that are served.
#include <boost/beast/http.hpp>
#include <string>

namespace xops::http::framing {

namespace bhttp = boost::beast::http;
using Parser = bhttp::request_parser<bhttp::string_body>;

// A fresh parser with the server's limits: the header (request line and fields) and the body
// in any framing (Content-Length or chunked; a declared length over the limit fails at once).
inline void limit(Parser& p, size_t max_header, size_t max_body) {
  p.header_limit(static_cast<std::uint32_t>(max_header));
  p.body_limit(max_body);
}

// What the connection's read buffer may hold unparsed: a header at its limit plus a chunk line
// or trailer of up to 16 KiB (upstream Beast later settled on 8 KiB for chunk headers).
inline size_t buffer_limit(size_t max_header) {
  return max_header + 16 * 1024;
}

struct Refusal {
  int status = 0;  // 0: not an HTTP answer (the connection just closes)
  std::string message;
};

// The answer to a parse error; status 0 for a peer that went away or timed out.
inline Refusal refusal(const boost::system::error_code& ec, size_t max_header, size_t max_body) {
  namespace e = bhttp;
  if (ec == e::error::body_limit)
    return {413, "the request body is larger than this server takes (" + std::to_string(max_body) +
                     " bytes; serve --max-body)"};
  if (ec == e::error::header_limit)
    return {431, "the request header is larger than " + std::to_string(max_header) + " bytes"};
  if (ec == e::error::buffer_overflow)
    return {431, "a chunk header or trailer of the request is longer than " +
                     std::to_string(buffer_limit(max_header) - max_header) + " bytes"};
  if (ec == e::error::bad_content_length) return {400, "the Content-Length header is not a length"};
  if (ec == e::error::bad_transfer_encoding || ec == e::error::bad_chunk ||
      ec == e::error::bad_chunk_extension)
    return {400, "the chunked body is malformed"};
  if (ec == e::error::bad_method || ec == e::error::bad_target || ec == e::error::bad_version ||
      ec == e::error::bad_line_ending || ec == e::error::bad_field || ec == e::error::bad_value ||
      ec == e::error::bad_obs_fold)
    return {400, "the request is not well-formed HTTP/1.1 (" + ec.message() + ")"};
  return {};
}

// A JSON error body in the OpenAI shape, for answers the handler never sees.
inline std::string error_body(const std::string& message) {
  std::string m;
  for (char c : message) {
    if (c == '"' || c == '\\') m += '\\';
    m += c;
  }
  return "{\"error\":{\"message\":\"" + m +
         "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";
}

}  // namespace xops::http::framing
