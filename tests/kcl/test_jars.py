"""The KCL jar set: the installed one is exactly the pinned KCL 3 one; any difference is named;
the configured credentials provider must be a class of that KCL's AWS SDK."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from consumers.kcl.jars import (
    JarSetError,
    check_jars,
    credentials_provider_problem,
    jar_directory,
    kcl_version,
    load_manifest,
    parse_manifest,
    verified_classpath,
)
from pipeline.cli import main


def test_the_installed_jar_set_is_the_pinned_kcl_3_1_3_set():
    directory = jar_directory()
    report = check_jars(directory, "kcl-3.1.3")
    assert report.problems == []
    assert (report.jars, report.verified) == (79, True)
    assert kcl_version(directory) == "3.1.3"
    assert "amazon-kinesis-client-multilang-3.1.3.jar" in load_manifest("kcl-3.1.3")
    assert verified_classpath(directory, "kcl-3.1.3") == f"{directory}/*"
    # the 2.x option's manifest still ships
    assert "amazon-kinesis-client-multilang-2.5.8.jar" in load_manifest("kcl-2.5.8")
    assert len(load_manifest("kcl-2.5.8")) == 76


def test_kcl_3_refuses_the_sdk_v1_credentials_provider_names_of_kcl_2():
    directory = jar_directory()
    for accepted in (
        "DefaultCredentialsProvider",
        "EnvironmentVariableCredentialsProvider",
        "software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider|prod",
        "KclStsAssumeRoleCredentialsProvider|arn:aws:iam::1:role/r|s,DefaultCredentialsProvider",
    ):
        assert credentials_provider_problem(directory, accepted) is None, accepted
    assert credentials_provider_problem(directory, "DefaultAWSCredentialsProviderChain") == (
        "kcl.credentials_provider: KCL 3.1.3 has no credentials provider "
        "'DefaultAWSCredentialsProviderChain' (looked in software.amazon.kinesis.multilang.auth., "
        "software.amazon.awssdk.auth.credentials.); its default chain is "
        "'DefaultCredentialsProvider'"
    )


def test_the_version_comes_from_the_one_multilang_jar(tmp_path):
    assert kcl_version(tmp_path) is None
    (tmp_path / "amazon-kinesis-client-multilang-2.5.8.jar").write_bytes(b"")
    (tmp_path / "amazon-kinesis-client-2.5.8.jar").write_bytes(b"")
    assert kcl_version(tmp_path) == "2.5.8"
    (tmp_path / "amazon-kinesis-client-multilang-3.1.3.jar").write_bytes(b"")
    assert kcl_version(tmp_path) is None  # two jar sets mixed in one folder


def test_kcl_2_looks_providers_up_among_the_sdk_v1_classes(tmp_path):
    """The 2.x option: its multilang daemon builds AWS SDK for Java v1 providers."""
    for jar, classes in {
        "amazon-kinesis-client-multilang-2.5.8.jar": [],
        "aws-java-sdk-core-1.12.668.jar": ["com/amazonaws/auth/DefaultAWSCredentialsProviderChain"],
        "auth-2.25.11.jar": ["software/amazon/awssdk/auth/credentials/DefaultCredentialsProvider"],
    }.items():
        with zipfile.ZipFile(tmp_path / jar, "w") as archive:
            for name in classes:
                archive.writestr(f"{name}.class", b"")
    (tmp_path / "tampered.jar").write_bytes(b"not a zip")  # the manifest check names it
    assert credentials_provider_problem(tmp_path, "DefaultAWSCredentialsProviderChain") is None
    problem = credentials_provider_problem(tmp_path, "DefaultCredentialsProvider")
    assert problem is not None
    assert problem.endswith("its default chain is 'DefaultAWSCredentialsProviderChain'")


@pytest.fixture
def jar_set(tmp_path):
    """Three small jars and their manifest file."""
    folder = tmp_path / "jars"
    folder.mkdir()
    lines = []
    for name in ("a-1.0.jar", "b-2.0.jar", "c-3.0.jar"):
        content = name.encode() * 10
        (folder / name).write_bytes(content)
        lines.append(f"{hashlib.sha256(content).hexdigest()}  {name}")
    manifest = tmp_path / "set.sha256"
    manifest.write_text("# a pinned set\n" + "\n".join(lines) + "\n")
    return folder, str(manifest)


def test_a_missing_changed_or_extra_jar_is_named(jar_set):
    folder, manifest = jar_set
    assert check_jars(folder, manifest).problems == []
    (folder / "a-1.0.jar").unlink()
    (folder / "b-2.0.jar").write_bytes(b"tampered")
    (folder / "evil-9.9.jar").write_bytes(b"x")
    tampered = hashlib.sha256(b"tampered").hexdigest()
    pinned = parse_manifest(Path(manifest).read_text())["b-2.0.jar"]
    assert check_jars(folder, manifest).problems == [
        "missing jar a-1.0.jar",
        f"unexpected jar evil-9.9.jar (not in manifest {manifest})",
        f"checksum mismatch for b-2.0.jar: sha256 {tampered}, pinned {pinned}",
    ]
    with pytest.raises(JarSetError, match=r"missing jar a-1\.0\.jar"):
        verified_classpath(folder, manifest)


def test_an_empty_manifest_setting_only_checks_that_jars_exist(jar_set, tmp_path):
    folder, _ = jar_set
    assert check_jars(folder, "").verified is False
    assert check_jars(folder, "").problems == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no jars in" in check_jars(empty, "").problems[0]
    with pytest.raises(JarSetError, match="neither a shipped manifest"):
        load_manifest("kcl-9.9")
    with pytest.raises(JarSetError, match="manifest line 1"):
        parse_manifest("not a digest  file.jar\n")


def test_pipeline_kcl_manifest_pins_a_jar_folder(jar_set, tmp_path):
    folder, manifest = jar_set
    result = CliRunner().invoke(main, ["kcl", "manifest", "--jar-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert parse_manifest(result.output) == parse_manifest(Path(manifest).read_text())
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert check_jars(copy, manifest).verified
