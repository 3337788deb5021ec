"""``pipeline config show``: the effective configuration as TOML, each value with its source.

The output is a valid TOML file (sources are comments), so it can be saved and edited. Nothing
secret belongs in the configuration (credentials come from boto3's chain), but values of keys
named like secrets, and passwords inside URLs, are masked all the same: a dump is pasted into
tickets and chats.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import tomli_w

from pipeline.config import TABLES, Config, setting_keys

MASK = "***"
_SECRET_KEY = re.compile(r"secret|token|password|passwd|passphrase|private_key|access_key|api_key")
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):[^/@\s]*@")


def masked(key: str, value: Any) -> Any:
    """``value``, unless ``key`` names a secret (then :data:`MASK`); a URL's password is masked
    wherever it appears."""
    if _SECRET_KEY.search(key.lower()):
        return MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
    return value


def render(config: Config, sources: Mapping[str, str], sections: tuple[str, ...] = ()) -> str:
    """The settings (of ``sections``, default all) as TOML, a ``# source`` after each value,
    then the declarations (``[[event_types]]``, ``[[jobs]]``, ``[[alerts]]``)."""
    chosen = set(sections)
    lines: list[str] = []
    current = ""
    for section, key in setting_keys():
        if chosen and section not in chosen:
            continue
        if section != current:
            lines += ["", f"[{section}]"] if lines else [f"[{section}]"]
            current = section
        value = masked(key, _plain(getattr(getattr(config, section), key)))
        lines.append(f"{_toml(key, value)}  # {sources[f'{section}.{key}']}")
    for table in TABLES:
        if chosen and table not in chosen:
            continue
        for item in getattr(config, table):
            entry = _plain(item)
            name = entry.get("name")
            body = {k: masked(k, v) for k, v in entry.items()}
            lines += ["", f"[[{table}]]  # {sources.get(f'{table}.{name}', 'default')}"]
            lines += [_toml(k, v) for k, v in body.items()]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """Tuples, mappings and dataclasses as the lists and dicts TOML writes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _toml(key: str, value: Any) -> str:
    """``key = value`` on one line (tables inline)."""
    if isinstance(value, dict):
        inner = ", ".join(_toml(k, v) for k, v in value.items())
        return f"{_key(key)} = {{ {inner} }}" if inner else f"{_key(key)} = {{}}"
    if isinstance(value, list):
        items = ", ".join(_toml("x", v).split(" = ", 1)[1] for v in value)
        return f"{_key(key)} = [{items}]"
    return tomli_w.dumps({key: value}).strip()


def _key(key: str) -> str:
    return tomli_w.dumps({key: 0}).split(" = ", 1)[0]
