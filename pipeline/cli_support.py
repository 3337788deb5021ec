"""Shared pieces of the command-line tools: the context object, option objects, error handling.

Domain errors become ``click.ClickException``: one clear line, exit status 1, no traceback (the
log has it at DEBUG: ``--log-level DEBUG``); an AWS failure no adapter translated still becomes
its one line (:func:`pipeline.aws.errors.translate_escaped`).
A command takes its options as one frozen object (:func:`gather_options`), not as a long
parameter list.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.alerts.rules import configured_rules
from pipeline.aws.clients import AwsClients
from pipeline.aws.errors import translate_escaped
from pipeline.config import Config, effective_config
from pipeline.core.errors import PipelineError
from pipeline.core.times import parse_duration, parse_instant

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass
class CliContext:
    config_path: str | None
    endpoint_url: str | None
    #: every command option's environment variable, which the configuration leaves to click
    option_variables: frozenset[str] = field(default_factory=frozenset)

    def config(self, path: str | None = None) -> Config:
        """The configuration (``--config``'s, or that of ``path``), with its alert rules
        validated: a bad rule stops any command."""
        return self.effective_config(path)[0]

    def effective_config(self, path: str | None = None) -> tuple[Config, dict[str, str]]:
        """:meth:`config` and the source of each value (``--endpoint-url`` included)."""
        config, sources = effective_config(
            path or self.config_path, option_variables=self.option_variables
        )
        configured_rules(config)
        if self.endpoint_url:
            if self.endpoint_url != config.aws.endpoint_url:
                sources["aws.endpoint_url"] = "option --endpoint-url"
            config = config.with_endpoint(self.endpoint_url)
        return config, sources

    def clients(self, config: Config) -> AwsClients:
        return AwsClients(config.aws)


pass_context = click.make_pass_decorator(CliContext)


def option_variables(command: click.Command, path: tuple[str, ...] = ()) -> dict[str, str]:
    """Every option's environment variable under ``command`` -> the option (``kcl properties
    --worker-id``).

    Click names them ``PIPELINE_<COMMAND>_..._<OPTION>`` (``auto_envvar_prefix``, dashes as
    underscores); an option may also name its own (``--config``: ``PIPELINE_CONFIG``).
    """
    prefix = "_".join(["PIPELINE", *path]).upper().replace("-", "_")
    found: dict[str, str] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            explicit = [param.envvar] if isinstance(param.envvar, str) else param.envvar or []
            for name in [f"{prefix}_{param.name.upper()}", *explicit]:
                found[name] = " ".join([*path, param.opts[0]])
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found |= option_variables(sub, (*path, name))
    return found


def domain_errors(func: F) -> F:
    """Turn library errors (and bad values) into one-line CLI errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (PipelineError, ValueError) as exc:
            log.debug("command failed", exc_info=True)
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            error = translate_escaped(exc)
            if error is None:
                raise
            log.debug("command failed", exc_info=True)
            raise click.ClickException(str(error)) from exc

    return wrapper  # type: ignore[return-value]


def gather_options(build: Callable[..., Any]) -> Decorator:
    """Hand a command its parameters as one object, built once by ``build``.

    Click passes a command's parameters by keyword; ``build`` takes them all (a frozen dataclass
    whose fields are named like the parameters is its own builder) and the command receives the
    object in their place, after the positional arguments (``ctx``) it takes. Put it below
    ``domain_errors``: a bad value found while building is then a one-line error too.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, **params: Any) -> Any:
            return command(*args, build(**params))

        return wrapper

    return decorate


def option_group(*decorators: Decorator) -> Decorator:
    """Several ``click.option`` decorators as one, in the order given (shared option groups)."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


class TimeType(click.ParamType):
    """An option in the one time grammar (:mod:`pipeline.core.times`), converted by ``parse``
    (text, option) to milliseconds: a duration, or an instant in epoch ms."""

    def __init__(self, name: str, parse: Callable[[str, str], int]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        where = param.opts[0] if param is not None and param.opts else self.name
        try:
            return self._parse(value, where)
        except PipelineError as exc:  # one line and status 1, like every bad value
            raise click.ClickException(str(exc)) from exc


#: ``500ms``, ``30s``, ``1h30m``: milliseconds
DURATION = TimeType("duration", parse_duration)
#: ISO-8601, epoch ms, ``2h`` (ago) or ``now``: epoch milliseconds
INSTANT = TimeType(
    "instant", lambda text, where: parse_instant(text, round(time.time() * 1000), where)
)


def on_terminal() -> bool:
    """Progress is drawn on a terminal only: piped or redirected, stderr stays quiet."""
    return sys.stderr.isatty()


def progress_bar(length: int, label: str, enabled: bool = True, **options: Any) -> ProgressBar[Any]:
    """A bar on stderr with an end (``length`` steps) and time left; hidden off a terminal.

    click's own bar: click is already the command line's library, and it draws, times and
    clears one line, which is all a command needs (the consumer's per-shard lags ride in its
    ``item_show_func`` text).
    """
    return click.progressbar(
        length=length,
        label=label,
        hidden=not (enabled and on_terminal()),
        file=sys.stderr,
        **{"show_pos": True, **options},
    )


def above_bar(bar: ProgressBar[Any] | None, text: str, err: bool = False) -> None:
    """Echo ``text`` where a drawn bar would garble it: the bar's line is cleared first (the
    bar draws itself again at its next step)."""
    if bar is not None and not bar.hidden:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
    click.echo(text, err=err)
