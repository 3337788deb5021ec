"""A small CloudFormation evaluator for tests: parameters, pseudo parameters, conditions, Ref,
Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals, Fn::And and AWS::NoValue, the way CloudFormation
resolves them. A resource's Ref is its name property where it has one (as CloudFormation
returns it); GetAtt becomes ``<Resource.Attribute>``."""

from __future__ import annotations

import re
from typing import Any

import yaml

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "kpipe",
}
_NAME_PROPERTIES = ("BucketName", "TableName", "Name", "LogGroupName", "LogStreamName")
_DROP = object()


def load(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


class Resolver:
    def __init__(self, template: dict[str, Any], overrides: dict[str, Any] | None = None):
        self.template = template
        overrides = overrides or {}
        self.values: dict[str, Any] = {
            **PSEUDO,
            **{k: v for k, v in overrides.items() if "::" in k},
        }
        for name, spec in template["Parameters"].items():
            if name in overrides:
                self.values[name] = overrides[name]
            else:
                self.values[name] = spec.get("Default", f"<{name}>")
        self.conditions: dict[str, bool] = {}
        for name, spec in template.get("Conditions", {}).items():
            self.conditions[name] = bool(self.value(spec))

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        properties = self.template["Resources"][name].get("Properties", {})
        properties = properties.get("DatabaseInput", properties)
        for key in _NAME_PROPERTIES:
            if key in properties:
                return self.value(properties[key])
        return f"<{name}>"

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not _DROP]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return _DROP if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._placeholder(m.group(1)), arg)
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
            if key == "Fn::If":
                return self.value(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
        out = {}
        for key, item in node.items():
            resolved = self.value(item)
            if resolved is not _DROP:
                out[key] = resolved
        return out

    def _placeholder(self, name: str) -> str:
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if "." in name:
            return f"<{name}>"
        return str(self.ref(name))

    def resources(self, type_: str | None = None) -> dict[str, dict[str, Any]]:
        """Resolved properties of the resources (of one type) whose condition holds."""
        out = {}
        for name, resource in self.template["Resources"].items():
            if type_ and resource["Type"] != type_:
                continue
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            out[name] = self.value(resource.get("Properties", {}))
        return out
