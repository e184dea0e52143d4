"""A verify check that times out must not keep the process alive (it used to: 1 s timeout,
20 s process)."""

import subprocess
import sys
import time

PROGRAM = """
import time
from dirkit._verify.checks import Check, timed
c = timed(lambda: (time.sleep(30), Check("hive", "pass", ""))[1], "hive", 1)
print(c.status, c.detail)
"""


def test_atimed_out_check_does_not_outlive_its_timeout() -> None:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert r.stdout.strip() == "fail no answer within 1s", r.stderr
    assert took < 10, f"the process lived {took:.1f}s after a 1s timeout"
