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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from pipeline.alerts.rules import configured_rules
from pipeline.aws.clients import AwsClients
from pipeline.aws.errors import translate_escaped
from pipeline.config import Config, load_config
from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass
class CliContext:
    config_path: str | None
    endpoint_url: str | None

    def config(self, path: str | None = None) -> Config:
        """The configuration (``--config``'s, or that of ``path``), with its alert rules
        validated: a bad rule stops any command."""
        config = load_config(path or self.config_path)
        configured_rules(config)
        if self.endpoint_url:
            config = config.with_endpoint(self.endpoint_url)
        return config

    def clients(self, config: Config) -> AwsClients:
        return AwsClients(config.aws)


pass_context = click.make_pass_decorator(CliContext)


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
