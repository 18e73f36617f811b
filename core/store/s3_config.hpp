#pragma once
// An s3:// remote's settings and request signing, without any HTTP (that is libxops_s3.so):
//  - where: s3://bucket/prefix; endpoint_url (an S3-compatible store, path-style addressing)
//    from the remote's `endpoint_url:`, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's
//    endpoint_url, else https://bucket.s3.REGION.amazonaws.com;
//  - who: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), else the profile
//    (remote `profile:`, AWS_PROFILE, "default") in ~/.aws/credentials and ~/.aws/config
//    (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE);
//  - region: remote `region:`, AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1;
//  - AWS Signature Version 4 for each request.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/project/s3_url.hpp"

namespace xops {

struct RemoteConfig;

struct S3Settings {
  S3Location where;
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  bool path_style = false;
  std::string region = "us-east-1";
  std::string access_key, secret_key, session_token;
  std::string credentials_from;  // "env", "~/.aws/credentials [default]", ... for messages
};

S3Settings resolve_s3_settings(const RemoteConfig& remote);

// ~/.aws/credentials and ~/.aws/config: [section] then key = value lines; '#'/';' comments.
// In config files a profile's section is "[profile NAME]" (except [default]).
std::map<std::string, std::map<std::string, std::string>> parse_aws_ini(const std::string& text,
                                                                        const std::string& where);

// RFC 3986 percent-encoding as SigV4 wants it (unreserved kept; '/' kept when !encode_slash).
std::string aws_uri_encode(const std::string& s, bool encode_slash);

struct SignedRequest {
  std::string url;                   // endpoint + canonical path + query
  std::vector<std::string> headers;  // "Name: value" lines to send
};

// Signs METHOD on key (already relative to the bucket; "" for the bucket itself) with query
// parameters and the payload's SHA-256 (hex, or "UNSIGNED-PAYLOAD"); amz_date is
// YYYYMMDDTHHMMSSZ ("" = now). extra_headers are signed too (lower-case names).
SignedRequest sign_s3_request(const S3Settings& s, const std::string& method,
                              const std::string& key,
                              const std::map<std::string, std::string>& query,
                              const std::string& payload_sha256,
                              const std::map<std::string, std::string>& extra_headers = {},
                              const std::string& amz_date = "");

}  // namespace xops
