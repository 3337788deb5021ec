"""Deployment to AWS: the CloudFormation template and the IAM policy documents (``pipeline
template``), generated from the configuration so that the stack holds what ``pipeline provision``
creates locally."""

from pipeline.deploy.template import build_template, policy_files, render_template, write_artifacts

__all__ = ["build_template", "policy_files", "render_template", "write_artifacts"]
