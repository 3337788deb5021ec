"""Capacity and cost planner (``pipeline plan``): pure arithmetic over a workload and unit prices.

No AWS calls: the load, the configuration's jobs and settings, and a price file shipped with the
package (:mod:`.prices`) give shards, polling or enhanced fan-out, KCL workers, Firehose
deliveries, DynamoDB units, Athena scans and a monthly bill (:mod:`.capacity`, :mod:`.costs`).
"""

from pipeline.planner.plan import CostLine, Plan, make_plan
from pipeline.planner.prices import Prices, load_prices
from pipeline.planner.workload import JobLoad, Workload, workload_from_config

__all__ = [
    "CostLine",
    "JobLoad",
    "Plan",
    "Prices",
    "Workload",
    "load_prices",
    "make_plan",
    "workload_from_config",
]
