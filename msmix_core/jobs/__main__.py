"""``python -m msmix_core.jobs WORK_FD EVENTS_FD``: the child interpreter of a training job.

A ``__main__`` of the package rather than ``-m msmix_core.jobs.worker``, which would run the
worker module a second time beside the copy the package's ``__init__`` already imported.
"""

import sys

from msmix_core.jobs.worker import run_child

run_child(sys.argv[1:])
