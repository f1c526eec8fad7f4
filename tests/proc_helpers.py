"""A `live` child process whose stdout and stderr are read as they come, so a test waits for what the
user would see (a line on stderr, a caption on stdout) instead of sleeping for as long as it might take."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable


class Watched:
    """``proc``'s output, read line by line on two threads; ``wait_out``/``wait_err`` until a condition
    on what has come so far holds, ``finish`` once the process ends."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._lines: dict[str, list[str]] = {"out": [], "err": []}
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                         for name, stream in (("out", proc.stdout), ("err", proc.stderr)) if stream is not None]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream) -> None:
        for line in stream:
            with self._changed:
                self._lines[name].append(line)
                self._changed.notify_all()

    @property
    def out(self) -> str:
        with self._changed:
            return "".join(self._lines["out"])

    @property
    def err(self) -> str:
        with self._changed:
            return "".join(self._lines["err"])

    def wait_out(self, holds: Callable[[str], bool], timeout: float = 60.0) -> None:
        self._wait("out", holds, timeout)

    def wait_err(self, holds: Callable[[str], bool], timeout: float = 60.0) -> None:
        self._wait("err", holds, timeout)

    def _wait(self, name: str, holds: Callable[[str], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not holds("".join(self._lines[name])):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._alive():
                    raise AssertionError(f"timed out waiting on the process's {name}; it said:\n"
                                         f"stdout: {''.join(self._lines['out'])[-2000:]}\n"
                                         f"stderr: {''.join(self._lines['err'])[-2000:]}")
                self._changed.wait(min(left, 0.5))

    def _alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def finish(self, timeout: float = 60.0) -> tuple[str, str]:
        """Wait for the process to end; everything it printed (stdout, stderr)."""
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout)
        return self.out, self.err


def engine_ready(err: str) -> bool:
    """Whether headless has said on stderr that its Whisper engine is ready ("live: whisper …"): its input
    was opened before the model began to load."""
    return any(line.startswith("live: ") and "whisper" in line for line in err.splitlines())
