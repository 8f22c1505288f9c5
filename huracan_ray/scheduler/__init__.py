"""The scheduler: recurring jobs on a declarative schedule.

- :mod:`.cadence`, :mod:`.config`: the schedule (pydantic, embedded defaults, YAML/JSON override)
- :mod:`.plan`: which jobs are due — a pure function of the schedule, the time and the recorded runs
"""

from huracan_ray.scheduler.cadence import Cadence
from huracan_ray.scheduler.config import DEFAULT_JOBS, JobSpec, ScheduleConfig, load_schedule
from huracan_ray.scheduler.plan import Decision, JobRun, plan

__all__ = ["DEFAULT_JOBS", "Cadence", "Decision", "JobRun", "JobSpec", "ScheduleConfig", "load_schedule", "plan"]
