"""Unit prices, shipped as data (``prices_<region>_<date>.toml``) with the date they were taken.

Prices are exact decimals (the files hold strings), so a cost is a product of exact numbers and
tests can state it to the cent. The newest file of a region wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

from pipeline.core.errors import ConfigError

_PREFIX = "prices_"


@dataclass(frozen=True)
class Prices:
    """One price file: ``section.key`` -> price, and where and when it was taken."""

    region: str
    currency: str
    taken: str
    verified: bool
    sources: tuple[str, ...]
    values: MappingProxyType[str, Decimal]

    def __getitem__(self, key: str) -> Decimal:
        return self.values[key]

    @classmethod
    def parse(cls, text: str, origin: str) -> Prices:
        data = tomllib.loads(text)
        try:
            meta = data.pop("meta")
            values = {
                f"{section}.{key}": Decimal(value)
                for section, table in data.items()
                for key, value in table.items()
            }
            return cls(
                meta["region"],
                meta["currency"],
                meta["taken"],
                bool(meta["verified"]),
                tuple(meta["sources"]),
                MappingProxyType(values),
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ConfigError(f"{origin}: not a price file ({exc})") from exc


def available() -> dict[str, list[str]]:
    """Region -> its price files, oldest first."""
    out: dict[str, list[str]] = {}
    for entry in resources.files("pipeline.planner").iterdir():
        if entry.name.startswith(_PREFIX) and entry.name.endswith(".toml"):
            region = entry.name[len(_PREFIX) : -len(".toml")].rsplit("_", 1)[0]
            out.setdefault(region, []).append(entry.name)
    return {region: sorted(files) for region, files in out.items()}


def load_prices(region: str = "us-east-1") -> Prices:
    """The newest price file of ``region``; :class:`ConfigError` naming the known regions."""
    files = available()
    if region not in files:
        raise ConfigError(
            f"no prices for region {region!r} (have: {', '.join(sorted(files)) or 'none'})"
        )
    name = files[region][-1]
    text = resources.files("pipeline.planner").joinpath(name).read_text("utf-8")
    return Prices.parse(text, name)


def describe(prices: Prices) -> dict[str, Any]:
    """The assumptions, as printed with every plan."""
    return {
        "region": prices.region,
        "currency": prices.currency,
        "taken": prices.taken,
        "verified": prices.verified,
        "sources": list(prices.sources),
        "unit_prices": {key: str(value) for key, value in prices.values.items()},
    }
