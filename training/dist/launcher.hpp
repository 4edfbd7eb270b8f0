// The one-machine launcher behind `mtfcdd-train train --nproc N`, as `torchrun --standalone`: runs
// this program N times with the variables of ranks 0..N-1 on 127.0.0.1, and watches them. No torch.
#pragma once

#include <string>
#include <vector>

namespace mtfcdd {

// Runs `argv` (argv[0] is ignored: this executable runs again) as `nproc` processes on
// 127.0.0.1:`port`, each with MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK and
// LOCAL_WORLD_SIZE set. Ctrl-C or SIGTERM reach every rank as SIGINT (each writes its checkpoint
// and stops at the same step); a second one kills them. When a rank fails, the others get
// `grace_seconds` to notice and stop, then are killed. Returns 0 when every rank exits 0, else
// the first failure's exit code (128 + signal when killed), having printed which rank failed how.
int launch_local(const std::vector<std::string>& argv, int nproc, int port, double grace_seconds);

}  // namespace mtfcdd
