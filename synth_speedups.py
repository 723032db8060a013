"""What makes the short process that `cdk synth` runs faster: app.py imports this module first.

Synth builds every environment with the SageMaker SDK, botocore and jsii loaded, about 440,000 Python
objects that live until the process ends. Two standard-library settings spare the work those objects cost
(CPU seconds of `python app.py` on this project's 2-core machine; figures in docs/benchmarks.md):

- Python's cyclic garbage collector is off for the whole process: it rescanned those objects again and
  again, about 1 s of a 6 s synth. Peak memory is about 2 MB higher.
- Once the cloud assembly is written (`leave_without_teardown`), the process ends right after the exit
  handlers, without tearing the interpreter down: freeing the objects one by one took another 1 s.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

# The exit below must be registered before jsii's (see there).
if "jsii" in sys.modules:
    raise ImportError("import synth_speedups before aws_cdk: its exit handler must run after jsii's")

gc.disable()

_assembly_written = False


def leave_without_teardown() -> None:
    """Call once the cloud assembly is written: at exit, after the exit handlers, the process ends at once
    with status 0. Until then an error exits as usual, with its own status."""
    global _assembly_written
    _assembly_written = True


def _exit_now() -> None:
    if _assembly_written:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# Registered before aws_cdk is imported, so it runs after jsii's own exit handler (they run last in, first
# out): jsii stops Node.js, forwards its last output and deletes its temporary folder first.
atexit.register(_exit_now)
