"""The fork server: ``python -S -s zygote.py SOCKET_FD``.

Imports torch, the case families and the checks' ``PRELOAD`` once (never the checks of an
assignment: the modules come from the grading process by name), then the modules of each
``preload`` message (those a submission's code imports, named as soon as it is read); then, for
each request
(a setup and four file descriptors received over the socket), forks a child that leaves for new
namespaces and forks again: the grandchild is PID 1 of its namespace, enters the jail and serves
the grading process (:mod:`runner`); the child waits for it and reports its exit status as a
final frame. This process never runs student code.
"""

import importlib
import json
import os
import signal
import socket
import sys
from pathlib import Path


def main() -> None:
    server = socket.socket(fileno=int(sys.argv[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    setup = json.loads(server.recv(1 << 20))
    sys.path[:] = setup["sys_path"]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    _preload()
    server.send(json.dumps({"kind": "ready"}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(server, 1 << 20, 4)
        except OSError:
            break
        if not message:
            break
        request = json.loads(message)
        if request.get("kind") == "preload":
            _import_all(request["modules"])
            continue
        pid = os.fork()
        if pid == 0:
            try:
                server.close()
                _child(request, fds)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        server.send(json.dumps({"pid": pid}).encode())
    # The grading process is gone or done. Nothing is left to flush: skip the interpreter's
    # teardown of torch and the preloaded modules (a second or two the grader waits for).
    os._exit(0)


def _preload() -> None:
    """Import what every sandbox needs, so that forked sandboxes start warm (the modules of an
    assignment and of a submission come next, in ``preload`` messages)."""
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    # Detect the CPU's vector extensions now: the jail has no /proc/cpuinfo or /sys, and the
    # kernels chosen without them round differently from the grading process's.
    torch.backends.cpu.get_cpu_capability()
    torch.ones(8).uniform_().sum()
    from autograder.sandbox import runner, transfer  # noqa: F401


def _import_all(modules) -> None:
    """Import ``modules`` (named by the grading process), skipping any that fail: the student
    edition may lack one, and the sandbox will say so."""
    for module in sorted(set(modules)):
        if module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except Exception:
            continue


def _child(setup: dict, fds: list[int]) -> None:
    from autograder.sandbox import cgroups, jail, protocol

    cmd_fd, result_fd, lifeline_fd, log_fd = fds
    os.setsid()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        cgroups.join(setup.get("cgroup", []))  # before anything else: children inherit it
        jail.unshare_namespaces(user=os.geteuid() != 0)
    except OSError as error:
        protocol.write_frame(result_fd, {"kind": "fatal", "message": f"namespaces: {error}"})
        return
    pid = os.fork()
    if pid == 0:
        try:
            jail.die_with_parent()
            _serve(setup, cmd_fd, result_fd, lifeline_fd)
        finally:
            os._exit(70)
    os.close(cmd_fd)
    os.close(lifeline_fd)
    # Asked to stop: kill the namespace's PID 1 (the kernel then kills the rest) and reap it.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:
        protocol.write_frame(result_fd, {"kind": "exit", "status": code})
    except OSError:
        pass
    os._exit(0)


def _serve(setup: dict, cmd_fd: int, result_fd: int, lifeline_fd: int) -> None:
    from autograder.sandbox import jail, protocol, runner

    try:
        jail.enter(setup["jail"])
        jail.set_limits(setup["limits"])
    except OSError as error:
        protocol.write_frame(result_fd, {"kind": "fatal", "message": f"sandbox setup: {error}"})
        return
    runner.serve(setup, cmd_fd=cmd_fd, result_fd=result_fd, lifeline_fd=lifeline_fd)


if __name__ == "__main__":
    main()
