#pragma once
// One register_* per verb: adds the subcommand, its flags and its action to the app.
namespace CLI {
class App;
}

namespace xops::cli {
struct Context;
}

namespace xops::commands {

void register_init(CLI::App& app, cli::Context& ctx);
void register_config(CLI::App& app, cli::Context& ctx);
void register_track(CLI::App& app, cli::Context& ctx);
void register_generate(CLI::App& app, cli::Context& ctx);
void register_finetune(CLI::App& app, cli::Context& ctx);
void register_eval(CLI::App& app, cli::Context& ctx);
void register_promote(CLI::App& app, cli::Context& ctx);
void register_serve(CLI::App& app, cli::Context& ctx);
void register_monitor(CLI::App& app, cli::Context& ctx);
void register_ui(CLI::App& app, cli::Context& ctx);
void register_index(CLI::App& app, cli::Context& ctx);
void register_pipeline(CLI::App& app, cli::Context& ctx);
void register_export(CLI::App& app, cli::Context& ctx);
// The experiment-tracking verbs under `track` (run, log, runs, show, diff, report).
void register_track_runs(CLI::App* track, cli::Context& ctx);
void register_track_sync(CLI::App* track, cli::Context& ctx);

}  // namespace xops::commands
