"""The local stack's own rules (infra.local): clear messages for missing tools, reuse of what was fetched and
built, one component interface, and the demo data."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local import kafka, store
from infra.local.component import Component, External
from infra.local.kafka import LocalKafka
from infra.local.process import InfraError, digest, free_port
from infra.local.services import ServiceProcess
from infra.local.store import LocalFerretDB, LocalMongod


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(kafka, "KAFKA_LIBS", tmp_path / "kafka-libs")
    monkeypatch.setattr(store, "FERRETDB_BIN", tmp_path / "bin" / "ferretdb-local")
    return tmp_path


def test_missing_java_or_maven_is_named(bare_path: Path) -> None:
    with pytest.raises(InfraError, match=r"`java` is not on PATH; it is needed to run the Kafka broker"):
        kafka.ensure_kafka_jars()


def test_missing_go_is_named(bare_path: Path) -> None:
    with pytest.raises(InfraError, match=r"`go` is not on PATH; it is needed to build FerretDB"):
        store.ensure_ferretdb_binary()


def test_fetched_jars_and_built_binary_are_reused_without_any_tool(bare_path: Path) -> None:
    # With the stamps matching the pom and the Go sources, nothing is fetched or built again: no tool needed.
    libs = bare_path / "kafka-libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    (libs / ".pom.sha256").write_text(digest(kafka.KAFKA_POM))
    assert kafka.ensure_kafka_jars() == libs
    binary = bare_path / "bin" / "ferretdb-local"
    binary.parent.mkdir()
    binary.write_bytes(b"")
    binary.with_suffix(".sha256").write_text(store.ferretdb_stamp(patched=True))
    assert store.ensure_ferretdb_binary() == binary


def test_a_changed_patch_builds_the_store_again(bare_path: Path) -> None:
    # The stamp covers the patches: a binary built without the current ones is not reused.
    binary = bare_path / "bin" / "ferretdb-local"
    binary.parent.mkdir()
    binary.write_bytes(b"")
    binary.with_suffix(".sha256").write_text(store.ferretdb_stamp(patched=False))
    with pytest.raises(InfraError, match="`go` is not on PATH"):
        store.ensure_ferretdb_binary()


def test_a_changed_pom_fetches_again(bare_path: Path) -> None:
    libs = bare_path / "kafka-libs"
    libs.mkdir()
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    (libs / ".pom.sha256").write_text("stale")
    with pytest.raises(InfraError, match="java"):
        kafka.ensure_kafka_jars()


def test_every_piece_of_the_stack_is_a_component(tmp_path: Path) -> None:
    pieces: list[object] = [LocalKafka(port=19092), LocalFerretDB(port=27018), LocalMongod(port=27019),
                            External("store", "mongodb://db.example:27017/"),
                            ServiceProcess("intake", 18001, tmp_path / "intake.log")]
    assert all(isinstance(piece, Component) for piece in pieces)
    assert [piece.address for piece in pieces] == [  # type: ignore[attr-defined]
        "127.0.0.1:19092", "mongodb://127.0.0.1:27018/", "mongodb://127.0.0.1:27019/",
        "mongodb://db.example:27017/", "http://127.0.0.1:18001"]


def test_components_that_were_not_started_are_not_healthy(tmp_path: Path) -> None:
    assert not LocalKafka(port=free_port()).healthy()
    assert not LocalFerretDB(port=free_port()).healthy()
    assert not ServiceProcess("intake", free_port(), tmp_path / "intake.log").healthy()
    with pytest.raises(InfraError, match="has not been started"):
        _ = ServiceProcess("intake", free_port(), tmp_path / "intake.log").process


def test_an_external_dependency_is_probed_at_its_addresses() -> None:
    import socket

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        closed = free_port()
        assert External("kafka", f"127.0.0.1:{closed},127.0.0.1:{port}").healthy()
        assert External("store", f"mongodb://user:secret@127.0.0.1:{port}/db?tls=false").healthy()
        assert not External("kafka", f"127.0.0.1:{closed}").healthy()
        assert not External("store", f"mongodb://127.0.0.1:{closed},127.0.0.1:{closed}/?replicaSet=rs").healthy()
    assert External("store", "mongodb+srv://cluster.example/").healthy()  # only the driver can resolve it


def test_demo_cases_are_valid_requests_for_the_intake_api() -> None:
    from infra.demo import DEMO_CASES, demo_payload
    from migradesk_intake.entrypoints.schemas import OpenCaseIn

    cases = [OpenCaseIn.model_validate(demo_payload(c)) for c in DEMO_CASES]
    areas = {r.category for c in cases for r in c.requests}
    assert {"sus_card", "school_enrolment", "job_placement", "gender_violence", "cadunico", "documentation"} <= areas
    assert {c.person.nationality for c in cases} == {"VEN", "HTI", "PRY", "BOL", "CUB"}


def test_the_demo_register_is_valid_for_the_register_api() -> None:
    from datetime import date

    from infra.demo import demo_register
    from migradesk_intake.domain.governance import dimension_of
    from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts

    records = demo_register(date(2026, 11, 24))
    models = {"activities": ActivityFacts, "instruments": InstrumentFacts}
    parsed = [models[collection].model_validate(facts) for collection, facts in records]
    # Evidence for each of the first five dimensions.
    assert {dimension_of(facts) for facts in parsed} == {1, 2, 3, 4, 5}
