"""The scheduler: recurring jobs (nightly ingest → train → importance, weekly RL and re-scaling,
the daily quality summary) on a declarative schedule, with runs claimed and recorded in the Brain.

- :mod:`.cadence`, :mod:`.config`: the schedule (pydantic, embedded defaults, YAML/JSON override)
- :mod:`.plan`: which jobs are due — a pure function of the schedule, the time and the recorded runs
- :mod:`.ledger`: claims and outcomes in the ``job_runs`` Delta table (compare-and-set MERGEs, leases)
- :mod:`.tasks`, :mod:`.executors`: what a job runs and where (in-process or ``ray job submit``)
- :mod:`.runner`: plan → claim → run → record → alert, once or forever; :mod:`.status` for the CLI;
  :mod:`.rerun` reopens a failed slot
"""

from huracan_ray.scheduler.cadence import Cadence
from huracan_ray.scheduler.config import DEFAULT_JOBS, JobSpec, ScheduleConfig, load_schedule
from huracan_ray.scheduler.executors import LocalExecutor, ProcessExecutor, RayJobExecutor
from huracan_ray.scheduler.ledger import RunLedger
from huracan_ray.scheduler.plan import Decision, JobRun, plan
from huracan_ray.scheduler.rerun import reopen_slot
from huracan_ray.scheduler.runner import Outcome, Scheduler
from huracan_ray.scheduler.status import JobStatus, schedule_status

__all__ = [
    "DEFAULT_JOBS",
    "Cadence",
    "Decision",
    "JobRun",
    "JobSpec",
    "JobStatus",
    "LocalExecutor",
    "Outcome",
    "ProcessExecutor",
    "RayJobExecutor",
    "RunLedger",
    "ScheduleConfig",
    "Scheduler",
    "load_schedule",
    "plan",
    "reopen_slot",
    "schedule_status",
]
