"""`dev.py up` is quiet once the sandbox runs: each process's output goes to its file under
var/log/, and the terminal shows only warnings and errors, each distinct one once."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
assert spec is not None and spec.loader is not None
dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev)

OUTPUT = """\
celery beat v5.7.0 is starting.
    . logfile -> [stderr]@%WARNING
127.0.0.1 - - [07/Dec/2026:13:31:02 +0900] "GET /healthz HTTP/1.1" 200 455
[2026-12-07 13:31:03,101: INFO/MainProcess] Task webhooks.attempt succeeded
[2026-12-07 13:31:04,202: WARNING/MainProcess] The bank answered late
[2026-12-07 13:31:05,303: WARNING/ForkPoolWorker-2] The bank answered late
[2026-12-07 13:31:06 +0900] [4242] [ERROR] Worker timeout (pid:4243)
Traceback (most recent call last):
  File "x.py", line 1, in <module>
ValueError: boom
after the traceback, quiet again
"""


def run_through_relay(tmp_path, text):
    relay = dev.Relay()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = tmp_path / "worker-bank.log"
    relayed = relay.follow("worker bank", process, log)
    assert process.stdin is not None
    process.stdin.write(text)
    process.stdin.close()
    process.wait(10)
    relayed.join(10)  # the relay has read everything the process wrote
    return log


def test_only_warnings_and_errors_reach_the_terminal_each_once(tmp_path, capsys):
    log = run_through_relay(tmp_path, OUTPUT)
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        "[worker bank] [2026-12-07 13:31:04,202: WARNING/MainProcess] The bank answered late",
        "[worker bank] [2026-12-07 13:31:06 +0900] [4242] [ERROR] Worker timeout (pid:4243)",
        "[worker bank] Traceback (most recent call last):",
        '[worker bank]   File "x.py", line 1, in <module>',
        "[worker bank] ValueError: boom",
    ]
    assert log.read_text() == OUTPUT  # the file keeps everything
