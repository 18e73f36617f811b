#include "core/pipeline/lock.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "core/error.hpp"
#include "core/pipeline/values.hpp"
#include "core/util/fs.hpp"
#include "core/util/yaml_json.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::pipeline {

namespace fs = std::filesystem;

const LockedPath* LockedStage::dep(const std::string& path) const {
  for (const auto& d : deps)
    if (d.path == path) return &d;
  return nullptr;
}

const LockedPath* LockedStage::out(const std::string& path) const {
  for (const auto& o : outs)
    if (o.path == path) return &o;
  return nullptr;
}

const LockedStage* LockFile::find(const std::string& name) const {
  auto it = stages.find(name);
  return it == stages.end() ? nullptr : &it->second;
}

namespace {

std::vector<LockedPath> read_paths(const yaml::Doc& doc, const YAML::Node& n,
                                   const std::string& what) {
  std::vector<LockedPath> out;
  if (!n) return out;
  if (!n.IsSequence()) doc.fail(n, what + " must be a list");
  for (const auto& e : n) {
    doc.expect_map(e, what + " entry");
    LockedPath p;
    p.path = doc.str(doc.require(e, "path", what + " entry"), "path");
    if (auto h = e["hash"])
      p.algo = doc.str(h, "hash");
    else
      p.algo = e["md5"] ? "md5" : "sha256";
    if (auto v = e[p.algo]) p.hash = doc.str(v, p.algo);
    if (auto s = e["size"]) p.size = static_cast<uint64_t>(doc.integer_in(s, "size", 0, INT64_MAX));
    if (auto s = e["nfiles"])
      p.nfiles = static_cast<uint64_t>(doc.integer_in(s, "nfiles", 0, INT64_MAX));
    out.push_back(std::move(p));
  }
  return out;
}

void emit_value(YAML::Emitter& e, const J& v) {
  if (v.is_object()) {
    e << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      e << YAML::Key << it.key() << YAML::Value;
      emit_value(e, it.value());
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& x : v) emit_value(e, x);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    auto s = v.get<std::string>();
    // A string that would read back as a number, bool or null is quoted.
    bool typed = !yaml::to_json<J>(YAML::Node(s)).is_string() || s.empty();
    if (typed) e << YAML::SingleQuoted;
    e << s;
  } else if (v.is_null()) {
    e << YAML::Null;
  } else if (v.is_boolean()) {
    e << (v.get<bool>() ? "true" : "false");
  } else if (v.is_number_float()) {
    e << to_str(v);  // Python's repr, not yaml-cpp's 0.2000000000000001
  } else {
    e << v.dump();
  }
}

void emit_paths(YAML::Emitter& e, const char* key, const std::vector<LockedPath>& paths) {
  if (paths.empty()) return;
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& p : paths) {
    e << YAML::BeginMap << YAML::Key << "path" << YAML::Value << p.path;
    e << YAML::Key << "hash" << YAML::Value << p.algo;
    e << YAML::Key << p.algo << YAML::Value << p.hash;
    e << YAML::Key << "size" << YAML::Value << p.size;
    if (p.is_dir()) e << YAML::Key << "nfiles" << YAML::Value << p.nfiles;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

}  // namespace

LockFile read_lock(const fs::path& file, const std::string& shown) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  return parse_lock(read_file_limited(file, 64u << 20, "dvc.lock"), shown);
}

LockFile parse_lock(const std::string& text, const std::string& shown) {
  LockFile lock;
  auto y = yaml::parse(text, shown);
  if (y.IsNull()) return lock;
  yaml::Doc doc(shown);
  doc.expect_map(y, "dvc.lock");
  if (auto s = y["schema"]; s && s.IsScalar() && s.Scalar() != "2.0")
    doc.fail(s, fmt::format("schema '{}' is not the one xops reads (2.0)", s.Scalar()),
             "delete dvc.lock; xops repro writes a new one");
  auto stages = y["stages"];
  if (!stages || stages.IsNull()) return lock;
  doc.expect_map(stages, "stages");
  for (const auto& kv : stages) {
    const auto& def = kv.second;
    doc.expect_map(def, "a locked stage");
    LockedStage s;
    if (auto c = def["cmd"]) {
      if (c.IsSequence()) {
        s.cmd_is_list = true;
        for (const auto& x : c) s.cmd.push_back(doc.str(x, "cmd"));
      } else {
        s.cmd.push_back(doc.str(c, "cmd"));
      }
    }
    s.deps = read_paths(doc, def["deps"], "deps");
    s.outs = read_paths(doc, def["outs"], "outs");
    if (auto p = def["params"]; p && !p.IsNull()) {
      doc.expect_map(p, "params");
      s.params = yaml::to_json<J>(p);
    }
    lock.stages[kv.first.Scalar()] = std::move(s);
  }
  return lock;
}

std::string render_lock(const LockFile& lock, const std::vector<std::string>& order) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "schema" << YAML::Value << YAML::SingleQuoted << "2.0";
  e << YAML::Key << "stages" << YAML::Value << YAML::BeginMap;
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& n : order)
    if (lock.stages.count(n) && seen.insert(n).second) names.push_back(n);
  for (const auto& [n, s] : lock.stages)
    if (seen.insert(n).second) names.push_back(n);
  for (const auto& n : names) {
    const auto& s = lock.stages.at(n);
    e << YAML::Key << n << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "cmd" << YAML::Value;
    if (s.cmd_is_list) {
      e << YAML::BeginSeq;
      for (const auto& c : s.cmd) e << c;
      e << YAML::EndSeq;
    } else {
      e << (s.cmd.empty() ? std::string() : s.cmd[0]);
    }
    emit_paths(e, "deps", s.deps);
    if (!s.params.empty()) {
      e << YAML::Key << "params" << YAML::Value;
      emit_value(e, s.params);
    }
    emit_paths(e, "outs", s.outs);
    e << YAML::EndMap;
  }
  e << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace xops::pipeline
