// Whether a process on this host is still alive, for ranks that share a host.
#pragma once

#include <sys/types.h>

namespace dtrain {

// False once the process has exited, including while it is a zombie its parent has not reaped
// yet (kill(pid, 0) alone still succeeds then).
bool processAlive(pid_t pid);

}  // namespace dtrain
