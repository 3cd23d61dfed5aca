"""The Zalo OA module: the service, its CLI and its workers."""

import sys

# httpx imports its command-line client whenever rich and pygments are installed (they are,
# for this module's own CLI): ~8 MB resident in every worker for code never run. Marking
# the submodule absent makes httpx skip it; `httpx` the command is not affected.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
