#pragma once
// Distributed `xops finetune`, started the way PyTorch users start torchrun: a launcher that
// runs N worker processes of this binary on each node with torchrun's environment (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), and
// workers that read that environment, whoever set it (this launcher, torchrun, Slurm, two
// shells). The rendezvous and collectives are c10d's, inside the engine.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/trainer.hpp"

namespace xops::app {

// This process's place in a distributed run from the environment; nullopt when WORLD_SIZE is
// unset (or 1 with no RANK: a plain run). Usage errors name the variable and its value.
// XOPS_DIST_TIMEOUT (seconds) sets the rendezvous and collective timeout.
using EnvLookup = std::function<const char*(const char*)>;
std::optional<WorldSpec> world_from_env(const EnvLookup& env);
std::optional<WorldSpec> world_from_env();

struct LaunchSpec {
  int nproc_per_node = 1;
  int nnodes = 1, node_rank = 0;
  std::string master_addr;  // "": 127.0.0.1 on one node (required with several)
  int master_port = 0;      // 0: a free port on one node, 29500 with several (torchrun's)
  int timeout_s = 0;        // 0: the workers' default (XOPS_DIST_TIMEOUT or 300 s)
  std::vector<std::string> worker_argv;  // argv[0] is the program
  int grace_s = 15;  // after a worker fails, how long the others have to stop before SIGKILL
};

struct LaunchObserver {
  std::function<void(const std::string&)> on_info;
};

// Starts the node's workers and waits for all of them. When one fails (non-zero exit or a
// signal) the others are stopped (SIGTERM, SIGKILL after grace_s) and an Error of the failed
// worker's kind (its exit code's) says which rank failed and how. Signals sent to the
// launcher are forwarded; Ctrl-C reaches the workers directly, each stops at a step boundary
// (rank 0 checkpoints) and the launcher reports Interrupted.
void launch_workers(const LaunchSpec& spec, const LaunchObserver& obs = {});

// argv without the launcher's own options (--nproc-per-node, --nnodes, --node-rank,
// --master-addr, --master-port, --dist-timeout; "--opt value" and "--opt=value"): what each
// worker runs.
std::vector<std::string> strip_launcher_args(const std::vector<std::string>& argv);

// This process's command line, argv[0] replaced by the path of the running executable.
std::vector<std::string> own_command_line();

}  // namespace xops::app
