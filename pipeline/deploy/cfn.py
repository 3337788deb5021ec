"""CloudFormation building blocks as plain data: intrinsic functions (long form), ARNs, YAML.

Strings use ``Fn::Sub`` syntax for template parameters and pseudo parameters
(``arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/${StreamName}``), so the
same text is a policy document placeholder on disk and a substitution in the template.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import yaml

NO_VALUE = {"Ref": "AWS::NoValue"}
_PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def get_att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def if_(condition: str, then: Any, otherwise: Any = NO_VALUE) -> dict[str, Any]:
    return {"Fn::If": [condition, then, otherwise]}


def equals(left: Any, right: Any) -> dict[str, Any]:
    return {"Fn::Equals": [left, right]}


def arn(service: str, resource: str) -> str:
    """An ARN template in the current partition, region and account (S3: neither)."""
    if service == "s3":
        return f"arn:${{AWS::Partition}}:s3:::{resource}"
    return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"


def substitute(value: Any, names: Collection[str]) -> Any:
    """``value`` with every string that mentions ``${Name}`` (a parameter, a resource or a pseudo
    parameter) wrapped in ``Fn::Sub``; other ``${x}`` in such strings (Athena's projection
    template ``${dt}``) are escaped as ``${!x}`` so CloudFormation keeps them literally."""
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            return value
        return {key: substitute(item, names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, names) for item in value]
    if isinstance(value, str) and "${" in value:
        found = _PLACEHOLDER.findall(value)
        if any(_known(name, names) for name in found):
            return sub(
                _PLACEHOLDER.sub(
                    lambda m: m.group(0) if _known(m.group(1), names) else f"${{!{m.group(1)}}}",
                    value,
                )
            )
    return value


def _known(name: str, names: Collection[str]) -> bool:
    return name.startswith("AWS::") or name.split(".", 1)[0] in names


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors, multi-line strings as literal blocks (the inline Lambda code)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(template: dict[str, Any], header: str) -> str:
    """The template as YAML (key order kept), after ``header`` (comment lines)."""
    body = yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
    return header + body
