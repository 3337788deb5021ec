"""Alert rules are configuration, like window jobs: a name, a job and a condition.

::

    [[alerts]]
    name = "temperature_out_of_band"
    job = "device_minute"
    when = "temperature_max > 45 or temperature_min < -20"   # a band: terms joined by "or"

    [[alerts]]
    name = "device_silent"
    job = "device_minute"
    when = "silent for 5 windows"       # a group with no result for 5 windows running

    [[alerts]]
    name = "unique_users_drop"
    job = "web_second"
    when = "unique_users drops 50%"     # from one window to the next of the same group

A rule is about one group of the job (a device, or the whole stream for a job without group-by)
and one window; :mod:`pipeline.alerts.evaluate` applies it. :func:`compile_rules` rejects a bad
declaration at start-up with an error naming the rule and the key.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.core.errors import ConfigError
from pipeline.core.windows.spec import WindowJob

if TYPE_CHECKING:
    from pipeline.config import Config

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NUMBER = r"-?\d+(?:\.\d+)?"
_TERM = re.compile(rf"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_SILENT = re.compile(r"^\s*silent\s+for\s+(\d+)\s+windows?\s*$")
_DROP = re.compile(rf"^\s*([a-z_][a-z0-9_]*)\s+drops\s+(?:by\s+)?({_NUMBER})\s*%\s*$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Term:
    """``metric op threshold``: the value is out of band when this holds."""

    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class AlertRule:
    """A validated rule: ``kind`` is ``band`` (terms), ``silent`` (windows) or ``drop``."""

    name: str
    job: str
    kind: str
    when: str
    group_by: tuple[str, ...]
    #: the job's allowed lateness: a window is complete once every shard's newest event time
    #: is its end plus the lateness (pipeline.alerts.complete)
    lateness_ms: int = 0
    terms: tuple[Term, ...] = ()
    windows: int = 0
    metric: str = ""
    percent: float = 0.0


def _metric(job: WindowJob, name: str, where: str) -> str:
    metrics = {m.name for m in job.metrics}
    if name not in metrics:
        raise ConfigError(f"{where}: {name!r} is not a metric of job {job.name}: {sorted(metrics)}")
    return name


def _compile(name: str, job: WindowJob, when: str, where: str) -> AlertRule:
    base = {
        "name": name,
        "job": job.name,
        "when": when,
        "group_by": job.group_by,
        "lateness_ms": job.lateness_ms,
    }
    silent = _SILENT.match(when)
    if silent:
        windows = int(silent.group(1))
        if windows < 1:
            raise ConfigError(f"{where}: silent for at least 1 window")
        return AlertRule(kind="silent", windows=windows, **base)
    drop = _DROP.match(when)
    if drop:
        percent = float(drop.group(2))
        if not 0 < percent <= 100:
            raise ConfigError(f"{where}: a drop is between 0 and 100%, got {percent}%")
        return AlertRule(
            kind="drop", metric=_metric(job, drop.group(1), where), percent=percent, **base
        )
    terms = []
    for text in re.split(r"\s+or\s+", when.strip()):
        term = _TERM.match(text)
        if term is None:
            raise ConfigError(
                f"{where}: cannot read {text!r}: write 'metric > 40 or metric < -10', "
                "'silent for N windows' or 'metric drops 50%'"
            )
        terms.append(Term(_metric(job, term.group(1), where), term.group(2), float(term.group(3))))
    return AlertRule(kind="band", terms=tuple(terms), **base)


def compile_rules(declared: Iterable[object], jobs: Sequence[WindowJob]) -> tuple[AlertRule, ...]:
    """Validate ``[[alerts]]`` declarations (``AlertConfig``) against the declared jobs."""
    by_name = {job.name: job for job in jobs}
    rules: list[AlertRule] = []
    for rule in declared:
        name = getattr(rule, "name", "")
        where = f"alerts.{name}"
        if not _NAME.match(name):
            raise ConfigError(f"{where}: rule name must be lower_snake_case (a-z, 0-9, _)")
        if any(r.name == name for r in rules):
            raise ConfigError(f"{where}: declared twice")
        job = by_name.get(rule.job)
        if job is None:
            raise ConfigError(f"{where}.job: no job {rule.job!r} (jobs: {sorted(by_name)})")
        rules.append(_compile(name, job, rule.when, f"{where}.when"))
    return tuple(rules)


def configured_rules(config: Config) -> tuple[AlertRule, ...]:
    """The configuration's rules, checked against its jobs. Every command's configuration
    (:meth:`pipeline.cli_support.CliContext.config`) goes through it, so a bad rule stops any
    command at start-up, while the configuration itself knows nothing of alerts."""
    return compile_rules(config.alerts, config.window_jobs)
