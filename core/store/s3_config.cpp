#include "core/store/s3_config.hpp"

#include <openssl/hmac.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "core/error.hpp"
#include "core/project/config.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"

namespace xops {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string home_file(const char* override_env, const char* rel) {
  if (auto o = env(override_env); !o.empty()) return o;
  auto home = env("HOME");
  return home.empty() ? "" : home + "/.aws/" + rel;
}

// The file's sections, or none when it does not exist (a missing file is not an error).
std::map<std::string, std::map<std::string, std::string>> read_ini(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) return {};
  return parse_aws_ini(read_file_limited(path, 1u << 20, "an AWS settings file"), path);
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : bytes) h += d[c >> 4], h += d[c & 15];
  return h;
}

}  // namespace

std::map<std::string, std::map<std::string, std::string>> parse_aws_ini(const std::string& text,
                                                                        const std::string& where) {
  std::map<std::string, std::map<std::string, std::string>> out;
  std::string section;
  bool nested = false;  // inside "s3 =" sub-settings: indented lines belong to that key
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']')
        throw runtime_error(
            fmt::format("{}:{}: a section header needs a closing ']'", where, line_no));
      section = trim(line.substr(1, line.size() - 2));
      nested = false;
      out[section];
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw runtime_error(fmt::format("{}:{}: expected 'key = value'", where, line_no),
                          "see `aws configure help`");
    if (section.empty())
      throw runtime_error(fmt::format("{}:{}: a setting before any [section]", where, line_no));
    bool indented = !raw.empty() && (raw[0] == ' ' || raw[0] == '\t');
    auto key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (indented && nested) continue;  // e.g. "s3 =\n  addressing_style = path": not ours
    nested = value.empty();
    out[section][key] = value;
  }
  return out;
}

std::string aws_uri_encode(const std::string& s, bool encode_slash) {
  static const char* d = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      o += static_cast<char>(c);
    } else {
      o += '%';
      o += d[c >> 4];
      o += d[c & 15];
    }
  }
  return o;
}

S3Settings resolve_s3_settings(const RemoteConfig& r) {
  S3Settings s;
  s.where = parse_s3_url(r.url);
  std::string profile = !r.profile.empty()            ? r.profile
                        : !env("AWS_PROFILE").empty() ? env("AWS_PROFILE")
                                                      : "default";
  auto creds_path = home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  auto config_path = home_file("AWS_CONFIG_FILE", "config");
  auto creds = read_ini(creds_path);
  auto config = read_ini(config_path);
  const auto& conf = config[profile == "default" ? "default" : "profile " + profile];
  auto conf_get = [&](const char* k) {
    auto it = conf.find(k);
    return it == conf.end() ? std::string() : it->second;
  };
  // Credentials: the environment, then the credentials file, then the config file.
  if (!env("AWS_ACCESS_KEY_ID").empty() && !env("AWS_SECRET_ACCESS_KEY").empty()) {
    s.access_key = env("AWS_ACCESS_KEY_ID");
    s.secret_key = env("AWS_SECRET_ACCESS_KEY");
    s.session_token = env("AWS_SESSION_TOKEN");
    s.credentials_from = "the environment (AWS_ACCESS_KEY_ID)";
  } else {
    for (auto* src :
         {&creds[profile], &config[profile == "default" ? "default" : "profile " + profile]}) {
      auto it = src->find("aws_access_key_id");
      auto sk = src->find("aws_secret_access_key");
      if (it == src->end() || sk == src->end()) continue;
      s.access_key = it->second;
      s.secret_key = sk->second;
      if (auto t = src->find("aws_session_token"); t != src->end()) s.session_token = t->second;
      s.credentials_from =
          fmt::format("{} [{}]", src == &creds[profile] ? creds_path : config_path, profile);
      break;
    }
  }
  if (s.access_key.empty())
    throw precondition_error(
        fmt::format("remote '{}' ({}): no AWS credentials (profile '{}')", r.name, r.url, profile),
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`");
  // Region and endpoint.
  for (const auto& cand :
       {r.region, env("AWS_REGION"), env("AWS_DEFAULT_REGION"), conf_get("region")})
    if (!cand.empty()) {
      s.region = cand;
      break;
    }
  std::string endpoint;
  for (const auto& cand : {r.endpoint_url, env("AWS_ENDPOINT_URL_S3"), env("AWS_ENDPOINT_URL"),
                           conf_get("endpoint_url")})
    if (!cand.empty()) {
      endpoint = cand;
      break;
    }
  if (!endpoint.empty()) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0)
      throw usage_error(fmt::format(
          "remote '{}': endpoint_url '{}' must start with http:// or https://", r.name, endpoint));
    if (endpoint.find('/', endpoint.find("://") + 3) != std::string::npos)
      throw usage_error(
          fmt::format("remote '{}': endpoint_url '{}' must not have a path", r.name, endpoint),
          "give scheme://host[:port]; the bucket comes from the s3:// URL");
    s.endpoint = endpoint;
    s.path_style = true;  // S3-compatible stores: no per-bucket DNS names
  } else if (s.where.bucket.find('.') != std::string::npos) {
    s.endpoint = fmt::format("https://s3.{}.amazonaws.com", s.region);
    s.path_style = true;  // a dotted bucket name does not match the wildcard certificate
  } else {
    s.endpoint = fmt::format("https://{}.s3.{}.amazonaws.com", s.where.bucket, s.region);
  }
  return s;
}

SignedRequest sign_s3_request(const S3Settings& s, const std::string& method,
                              const std::string& key,
                              const std::map<std::string, std::string>& query,
                              const std::string& payload_sha256,
                              const std::map<std::string, std::string>& extra_headers,
                              const std::string& amz_date) {
  std::string date = amz_date;
  if (date.empty()) {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    date = buf;
  }
  auto day = date.substr(0, 8);
  std::string host = s.endpoint.substr(s.endpoint.find("://") + 3);
  std::string path =
      s.path_style ? "/" + s.where.bucket + (key.empty() ? "" : "/" + key) : "/" + key;
  path = aws_uri_encode(path, false);
  std::string qs;
  for (const auto& [k, v] : query)  // std::map: sorted by name, as the canonical form wants
    qs += (qs.empty() ? "" : "&") + aws_uri_encode(k, true) + "=" + aws_uri_encode(v, true);
  std::map<std::string, std::string> headers = extra_headers;
  headers["host"] = host;
  headers["x-amz-content-sha256"] = payload_sha256;
  headers["x-amz-date"] = date;
  if (!s.session_token.empty()) headers["x-amz-security-token"] = s.session_token;
  std::string canon_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canon_headers += k + ":" + trim(v) + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  auto canonical = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", method, path, qs, canon_headers,
                               signed_headers, payload_sha256);
  auto scope = fmt::format("{}/{}/s3/aws4_request", day, s.region);
  auto to_sign = fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", date, scope, sha256_hex(canonical));
  auto k = hmac(hmac(hmac(hmac("AWS4" + s.secret_key, day), s.region), "s3"), "aws4_request");
  SignedRequest out;
  out.url = s.endpoint + path + (qs.empty() ? "" : "?" + qs);
  for (const auto& [name, v] : headers) out.headers.push_back(name + ": " + v);
  out.headers.push_back(fmt::format(
      "authorization: AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
      s.access_key, scope, signed_headers, hex(hmac(k, to_sign))));
  return out;
}

}  // namespace xops
