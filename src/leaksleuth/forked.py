"""Run a function in a forked child process while the caller goes on; collect its result.

For work that threads do not run in parallel (numpy loops of many short calls hand the GIL
back and forth): a forked child already has every module loaded and shares the parent's
memory copy-on-write, so it starts in ~2 ms. The result (or the exception) comes back pickled
through a pipe. Where fork is unavailable (not Linux), or the child dies without an answer,
the function runs in the caller's process instead, when ``result`` is called.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    """``fn(*args, **kwargs)`` computed in a forked child; ``result()`` returns or raises it."""

    def __init__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> None:
        self._call = (fn, args, kwargs)
        self._pid = 0
        self._fd = -1
        if not sys.platform.startswith("linux"):
            return
        try:
            r, w = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: never returns
            os.close(r)
            self._child(w)
        os.close(w)
        self._pid, self._fd = pid, r

    def _child(self, w: int) -> None:
        code = 0
        try:
            fn, args, kwargs = self._call
            try:
                payload = pickle.dumps((True, fn(*args, **kwargs)), pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                try:
                    payload = pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
                except Exception:
                    payload = pickle.dumps((False, RuntimeError(repr(exc))))
            with os.fdopen(w, "wb") as f:
                f.write(payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)  # no atexit handlers, no flushing of the parent's buffers

    def result(self) -> T:
        """The function's value; its exception re-raised; computed here if the child failed."""
        fn, args, kwargs = self._call
        if self._pid == 0:
            return fn(*args, **kwargs)
        fd, self._fd = self._fd, -1
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        except BaseException:
            self._reap(kill=True)
            raise
        self._reap(kill=False)
        try:
            ok, value = pickle.loads(data)
        except Exception:
            return fn(*args, **kwargs)
        if not ok:
            raise value
        result: T = value
        return result

    def cancel(self) -> None:
        """Stop the child (if still running) and reap it."""
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1
        self._reap(kill=True)

    def _reap(self, kill: bool) -> None:
        if self._pid == 0:
            return
        pid, self._pid = self._pid, 0
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
