"""``pipeline template``: write the CloudFormation template and IAM policies of a configuration."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli_support import CliContext, domain_errors, pass_context


@click.command("template")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Write template.yaml and policies/*.json here (default: print the template).",
)
@pass_context
@domain_errors
def template(ctx: CliContext, out: str | None) -> None:
    """Generate the CloudFormation template and IAM policy documents of this configuration.

    Example: pipeline --config my-jobs.toml template --out deploy
    """
    from pipeline.deploy import render_template, write_artifacts

    config = ctx.config()
    if out is None:
        click.echo(render_template(config), nl=False)
        return
    for path in write_artifacts(config, Path(out)):
        click.echo(f"wrote {path}")
