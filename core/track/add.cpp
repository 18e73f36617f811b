// xops track add: hash + store in one read pass, pointer files, .gitignore, git staging.
#include <sys/stat.h>

#include <atomic>
#include <map>

#include "core/error.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/util/fs.hpp"
#include "core/util/parallel.hpp"

namespace xops {

namespace {

std::string gitignore_pattern(const std::string& name) {
  std::string o = "/";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool lead = i == 0 && (c == '#' || c == '!');
    if (lead || c == '*' || c == '?' || c == '[' || c == '\\') o += '\\';
    o += c;
  }
  size_t trailing = o.find_last_not_of(' ');
  if (trailing != std::string::npos && trailing + 1 < o.size()) {  // escape trailing spaces
    std::string spaces;
    for (size_t i = trailing + 1; i < o.size(); ++i) spaces += "\\ ";
    o = o.substr(0, trailing + 1) + spaces;
  }
  return o;
}

// Adds `/name` to the .gitignore beside the tracked path; returns its workspace-relative path
// when it changed.
std::string ensure_ignored(const TrackContext& ctx, const std::string& rel) {
  fs::path p(rel);
  auto dir = p.parent_path();
  auto gi_rel = (dir / ".gitignore").generic_string();
  auto gi = ctx.abs(gi_rel);
  auto line = gitignore_pattern(p.filename().string());
  std::string content;
  std::error_code ec;
  if (fs::exists(gi, ec)) content = read_file(gi);
  size_t pos = 0;
  while (pos < content.size()) {
    auto end = content.find('\n', pos);
    if (content.substr(pos, end == std::string::npos ? std::string::npos : end - pos) == line) return {};
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += line + "\n";
  atomic_write_file(gi, content);
  return gi_rel;
}

struct FileJob {
  std::string rel;      // workspace-relative file
  size_t target;        // index into the per-argument results
  ManifestEntry* entry; // for directory members
};

}  // namespace

std::vector<AddResult> track_add(const Workspace& ws, const AddOptions& o, const TrackProgress& prog) {
  WorkspaceLock lock(ws);
  TrackContext ctx(ws);
  if (o.paths.empty()) throw usage_error("no paths given", "xops track add PATH...");

  // Validate every argument before touching anything.
  std::vector<std::string> rels;
  for (const auto& p : o.paths) {
    auto rel = ctx.to_rel(p);
    if (std::find(rels.begin(), rels.end(), rel) == rels.end()) rels.push_back(rel);
  }
  auto existing = ctx.pointers_in_index();
  std::map<std::string, Pointer> old_pointers;
  for (const auto& r : existing) old_pointers[r.rel] = r.ptr;
  for (const auto& rel : rels)
    for (const auto& r : existing)
      if (r.ptr.is_dir && rel.rfind(r.rel + "/", 0) == 0)
        throw usage_error(fmt::format("{} is inside the tracked directory {}", rel, r.rel),
                          fmt::format("re-add the whole directory: xops track add {}", r.rel));
  // The reverse overlap: a directory that holds paths tracked on their own (as DVC refuses
  // overlapping outputs). Adding it would swallow their pointers into one opaque manifest.
  for (const auto& rel : rels) {
    std::vector<std::string> inner;
    for (const auto& r : existing)
      if (r.rel.rfind(rel + "/", 0) == 0) inner.push_back(r.rel);
    if (!inner.empty())
      throw usage_error(fmt::format("{} holds paths that are tracked on their own: {}", rel,
                                    fmt::join(inner.begin(), inner.begin() + std::min<size_t>(inner.size(), 5), ", ")),
                        "track those paths one by one, or untrack them first (git rm --cached PATH.xops)");
  }

  std::vector<AddResult> results(rels.size());
  std::vector<std::vector<ManifestEntry>> manifests(rels.size());
  std::vector<std::string> digests(rels.size());  // directories: stat digest at listing time
  std::vector<FileJob> jobs;
  uint64_t total = 0;
  for (size_t i = 0; i < rels.size(); ++i) {
    auto& r = results[i];
    r.path = rels[i];
    r.pointer = rels[i] + kPointerSuffix;
    r.is_dir = fs::is_directory(ctx.abs(rels[i]));
    if (r.is_dir) {
      auto files = list_files_stat(ctx.root, rels[i]);
      digests[i] = stat_digest(files);
      manifests[i].resize(files.size());
      for (size_t k = 0; k < files.size(); ++k) {
        manifests[i][k].path = files[k].rel;
        jobs.push_back({rels[i] + "/" + files[k].rel, i, &manifests[i][k]});
        total += static_cast<uint64_t>(files[k].st.st_size);
      }
    } else {
      jobs.push_back({rels[i], i, nullptr});
      total += fs::file_size(ctx.abs(rels[i]));
    }
  }
  if (prog.start) prog.start("hashing", total, true);

  // Hash and store every file in parallel; the stat cache skips unchanged content that the
  // store already holds.
  std::vector<StoredObject> stored(jobs.size());
  std::vector<uint64_t> hashed(jobs.size(), 0);
  parallel_for(jobs.size(), o.jobs, [&](size_t i) {
    const auto& j = jobs[i];
    auto path = ctx.abs(j.rel);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
      throw runtime_error(fmt::format("{} disappeared while adding: {}", j.rel, errno_text(errno)));
    if (auto h = ctx.cache.lookup(j.rel, st); h && ctx.store.has(*h)) {
      stored[i] = {*h, static_cast<uint64_t>(st.st_size), false};
      if (prog.advance) prog.advance(static_cast<uint64_t>(st.st_size));
    } else {
      stored[i] = ctx.store.add_file(path, prog.advance, o.mode);
      hashed[i] = stored[i].size;
      struct stat after;
      if (::stat(path.c_str(), &after) == 0 && after.st_size == st.st_size &&
          after.st_mtim.tv_sec == st.st_mtim.tv_sec && after.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
        ctx.cache.put(j.rel, after, stored[i].id);
    }
    if (j.entry) {
      j.entry->sha256 = stored[i].id;
      j.entry->size = stored[i].size;
      j.entry->executable = (st.st_mode & S_IXUSR) != 0;
    }
  });
  if (prog.finish) prog.finish();

  for (size_t i = 0; i < jobs.size(); ++i) {
    auto& r = results[jobs[i].target];
    r.new_objects += stored[i].added ? 1 : 0;
    r.hashed_bytes += hashed[i];
    if (!r.is_dir) {
      r.sha256 = stored[i].id;
      r.size = stored[i].size;
    }
  }
  for (size_t i = 0; i < results.size(); ++i) {
    auto& r = results[i];
    if (!r.is_dir) continue;
    auto m = ctx.store.add_bytes(render_manifest(manifests[i]));
    r.sha256 = m.id;
    r.new_objects += m.added ? 1 : 0;
    r.files = manifests[i].size();
    r.size = 0;
    for (const auto& e : manifests[i]) r.size += e.size;
    ctx.save_dir_summary(r.path, {digests[i], r.sha256, true});  // every entry was just stored
  }
  // Objects must be durable before any pointer names them.
  ctx.store.sync();

  std::vector<std::string> to_stage;
  for (auto& r : results) {
    Pointer p;
    p.sha256 = r.sha256;
    p.size = r.size;
    p.is_dir = r.is_dir;
    p.files = r.is_dir ? r.files : 0;
    p.name = fs::path(r.path).filename().string();
    auto old = old_pointers.find(r.path);
    p.desc = !o.desc.empty() ? o.desc : (old != old_pointers.end() ? old->second.desc : "");
    auto text = render_pointer(p);
    std::error_code ec;
    bool same = fs::exists(ctx.abs(r.pointer), ec) && read_file(ctx.abs(r.pointer)) == text;
    r.changed = !same;
    if (!same) atomic_write_file(ctx.abs(r.pointer), text);
    to_stage.push_back(ctx.prefix + r.pointer);
    auto gi = ensure_ignored(ctx, r.path);
    if (!gi.empty() || fs::exists(ctx.abs((fs::path(r.path).parent_path() / ".gitignore").generic_string())))
      to_stage.push_back(ctx.prefix + (fs::path(r.path).parent_path() / ".gitignore").generic_string());
  }
  if (o.stage) {
    // Content moves out of git into the store: drop earlier git copies from the index.
    for (auto& r : results) r.untracked_from_git = ctx.repo.remove_from_index(ctx.prefix + r.path);
    ctx.repo.add(to_stage);
  }
  ctx.cache.flush();
  return results;
}

}  // namespace xops
