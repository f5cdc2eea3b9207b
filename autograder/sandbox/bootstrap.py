"""Entry point of a spawned sandbox (rlimits mode): ``python -S -s bootstrap.py CMD RES LIFE``.

Reads the setup frame, moves to the scratch folder, joins its cgroup (if it has one), applies
the resource limits, drops root
for the user id it was given (if any), sets ``sys.path`` to the sandbox library and
site-packages, then serves the grading process (:mod:`runner`). In namespaces mode sandboxes
are forked by :mod:`zygote` instead.
"""

import os
import sys
from pathlib import Path


def main() -> None:
    cmd_fd, result_fd, lifeline_fd = (int(arg) for arg in sys.argv[1:4])
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from autograder.sandbox import cgroups, jail, protocol

    setup, _ = protocol.read_frame_blocking(cmd_fd)
    try:
        os.chdir(setup["workdir"])
        cgroups.join(setup.get("cgroup", []))  # while still root
        jail.set_limits(setup["limits"])
        if setup.get("uid") is not None:  # started as root: become the sandbox's own user
            os.setgroups([])
            os.setgid(setup["uid"])
            os.setuid(setup["uid"])
    except OSError as error:
        protocol.write_frame(result_fd, {"kind": "fatal", "message": f"sandbox setup: {error}"})
        raise SystemExit(70) from None
    sys.path[:] = setup["sys_path"]
    from autograder.sandbox import runner

    runner.serve(setup, cmd_fd=cmd_fd, result_fd=result_fd, lifeline_fd=lifeline_fd)


if __name__ == "__main__":
    main()
