"""The launcher's own rules: clear messages for missing tools, reuse of what was fetched and built."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import launcher


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(launcher, "KAFKA_LIBS", tmp_path / "kafka-libs")
    monkeypatch.setattr(launcher, "FERRETDB_BIN", tmp_path / "bin" / "ferretdb-local")
    return tmp_path


def test_missing_java_or_maven_is_named(bare_path: Path) -> None:
    with pytest.raises(launcher.InfraError, match=r"`java` is not on PATH; it is needed to run the Kafka broker"):
        launcher.ensure_kafka_jars()


def test_missing_go_is_named(bare_path: Path) -> None:
    with pytest.raises(launcher.InfraError, match=r"`go` is not on PATH; it is needed to build FerretDB"):
        launcher.ensure_ferretdb_binary()


def test_fetched_jars_and_built_binary_are_reused_without_any_tool(bare_path: Path) -> None:
    # With the stamps matching the pom and the Go sources, nothing is fetched or built again: no tool needed.
    libs = bare_path / "kafka-libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    (libs / ".pom.sha256").write_text(launcher._digest(launcher.KAFKA_POM))
    assert launcher.ensure_kafka_jars() == libs
    binary = bare_path / "bin" / "ferretdb-local"
    binary.parent.mkdir()
    binary.write_bytes(b"")
    binary.with_suffix(".sha256").write_text(launcher.ferretdb_stamp(patched=True))
    assert launcher.ensure_ferretdb_binary() == binary


def test_a_changed_patch_builds_the_store_again(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stamp covers the patches: a binary built without the current ones is not reused.
    binary = bare_path / "bin" / "ferretdb-local"
    binary.parent.mkdir()
    binary.write_bytes(b"")
    binary.with_suffix(".sha256").write_text(launcher.ferretdb_stamp(patched=False))
    with pytest.raises(launcher.InfraError, match="`go` is not on PATH"):
        launcher.ensure_ferretdb_binary()


def test_a_changed_pom_fetches_again(bare_path: Path) -> None:
    libs = bare_path / "kafka-libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    (libs / ".pom.sha256").write_text("stale")
    with pytest.raises(launcher.InfraError, match="java"):
        launcher.ensure_kafka_jars()


def test_demo_cases_are_valid_requests_for_the_intake_api() -> None:
    from infra.demo import DEMO_CASES, demo_payload
    from migradesk_intake.schemas import OpenCaseIn

    cases = [OpenCaseIn.model_validate(demo_payload(c)) for c in DEMO_CASES]
    areas = {r.category for c in cases for r in c.requests}
    assert {"sus_card", "school_enrolment", "job_placement", "gender_violence", "cadunico", "documentation"} <= areas
    assert {c.person.nationality for c in cases} == {"VEN", "HTI", "PRY", "BOL", "CUB"}
