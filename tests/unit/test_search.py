"""The person search's pure parts: keys, kind of query, ranking of misspelt names, cursors, validation."""

from __future__ import annotations

import pytest

from migradesk_intake.domain.duplicates import normalise_name
from migradesk_intake.domain.search import (
    MAX_NAME_TOKENS,
    Candidate,
    SearchablePerson,
    decode_cursor,
    encode_cursor,
    looks_like_number,
    name_levels_of_query,
    number_keys,
    page_of,
    pair_keys_of_query,
    person_keys,
    rank,
    sounds,
    token_keys_of_query,
    validate_query,
)


def candidate(person_id: str, name: str, *, same_document: bool = False, same_phone: bool = False) -> Candidate:
    return Candidate(person_id=person_id, full_name=name, normalised_name=normalise_name(name),
                     same_document=same_document, same_phone=same_phone)


def test_a_person_has_token_pair_document_and_phone_keys() -> None:
    keys = person_keys(SearchablePerson("p1", "José da Silva Santos", documents=("123.456.789-00", "fh-123456"),
                                        phone="+5567999998888"))
    assert [k for k in keys if k.startswith("tok:")] == ["tok:JS", "tok:SLB", "tok:SNTS"]  # "da" dropped
    assert [k for k in keys if k.startswith("pair:")] == ["pair:JS|SLB", "pair:JS|SNTS", "pair:SLB|SNTS"]
    assert [k for k in keys if k.startswith(("doc:", "phone:"))] == ["doc:12345678900", "doc:FH123456",
                                                                    "phone:99998888"]


def test_long_names_are_capped_so_pairs_stay_bounded() -> None:
    keys = person_keys(SearchablePerson("p", "Ana Beatriz Carla Dora Eva Fabiana Gisele Helena"))
    assert len([k for k in keys if k.startswith("tok:")]) == MAX_NAME_TOKENS
    assert len([k for k in keys if k.startswith("pair:")]) == MAX_NAME_TOKENS * (MAX_NAME_TOKENS - 1) // 2


@pytest.mark.parametrize(("typed", "registered"), [
    ("Jose Gonzales", "José González"),
    ("Yohana Peres", "Johana Pérez"),
    ("Mariah Rodriges", "María Rodríguez"),
    ("JOSÉ GONZÁLEZ", "jose gonzalez"),
    ("Joana Silba", "Johana Silva"),
])
def test_misspelt_names_sound_the_same(typed: str, registered: str) -> None:
    assert sounds(typed) == sounds(registered)
    assert pair_keys_of_query(typed) == [k for k in person_keys(SearchablePerson("p", registered))
                                         if k.startswith("pair:")]


def test_a_partial_name_shares_a_pair_with_the_full_one() -> None:
    assert set(pair_keys_of_query("Jean Piere")) <= set(person_keys(SearchablePerson("p", "Jean-Pierre Louis")))
    assert token_keys_of_query("Jean Piere") == ["tok:JN", "tok:PR"]


def test_different_names_do_not_sound_the_same() -> None:
    assert sounds("Carlos Mendes") != sounds("Marcos Mendes")


@pytest.mark.parametrize(("text", "number"), [("123.456.789-00", True), ("(67) 99999-8888", True),
                                              ("FH123456", True), ("Maria", False), ("Maria 2", False),
                                              ("Ana 1990", False)])
def test_numbers_and_names_are_told_apart(text: str, number: bool) -> None:
    assert looks_like_number(text) is number


def test_number_keys_ignore_punctuation_and_take_the_phone_tail() -> None:
    assert number_keys("123.456.789-00") == ["doc:12345678900", "phone:45678900"]
    assert number_keys("(67) 99999-8888") == ["doc:67999998888", "phone:99998888"]
    assert number_keys("fh 1234") == ["doc:FH1234"]


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_a_blank_query_is_refused_naming_q(blank: str) -> None:
    with pytest.raises(ValueError, match=r"\bq\b"):
        validate_query(blank, 20)


def test_page_size_is_validated() -> None:
    with pytest.raises(ValueError, match="page_size"):
        validate_query("Maria", 0)


def test_the_name_matching_every_query_token_ranks_first_then_similarity() -> None:
    found = rank("Mariah Rodriges", [
        candidate("p3", "Mario Rodrigo"),
        candidate("p2", "Maria Rodrigues Souza"),
        candidate("p1", "María Rodríguez"),
        candidate("p4", "Maria Fernandes"),
    ], by_number=False)
    assert [h.person_id for h in found][:2] == ["p1", "p2"]
    assert "name sounds the same" in found[0].reasons
    assert found[0].score > found[-1].score
    assert found[-1].person_id in {"p3", "p4"}


def test_the_exact_name_ranks_above_a_sound_alike_and_scores_100() -> None:
    found = rank("Johana Pérez", [candidate("b", "Yohana Peres"), candidate("a", "Johana Perez")], by_number=False)
    assert [h.person_id for h in found] == ["a", "b"]
    assert found[0].score == 100 and found[0].reasons[0] == "same name"
    assert found[1].score < 100


def test_a_name_sharing_nothing_is_dropped() -> None:
    assert rank("Jose Gonzales", [candidate("x", "Wilner Jean-Baptiste")], by_number=False) == []


def test_ties_are_broken_by_name_and_id_so_pages_are_stable() -> None:
    found = rank("Ana Lima", [candidate("b", "Ana Lima"), candidate("a", "Ana Lima")], by_number=False)
    assert [h.person_id for h in found] == ["a", "b"]


def test_by_number_the_document_beats_the_phone() -> None:
    found = rank("x", [candidate("p", "Phone Person", same_phone=True),
                       candidate("d", "Doc Person", same_document=True)], by_number=True)
    assert [(h.person_id, h.score, h.reasons) for h in found] == [
        ("d", 100, ("same document number",)), ("p", 90, ("same phone",))]


def test_the_cursor_round_trips_and_pages_do_not_overlap() -> None:
    assert decode_cursor(encode_cursor(40, True)) == (40, True)
    hits = rank("Ana", [candidate(f"p{i:02}", "Ana") for i in range(5)], by_number=False)
    first = page_of(hits, 0, 2, False)
    assert first.next_cursor is not None
    offset, widened = decode_cursor(first.next_cursor)
    second = page_of(hits, offset, 2, widened)
    assert second.next_cursor is not None
    third = page_of(hits, decode_cursor(second.next_cursor)[0], 2, False)
    assert [h.person_id for h in first.hits + second.hits + third.hits] == [f"p{i:02}" for i in range(5)]
    assert third.next_cursor is None


@pytest.mark.parametrize("bad", ["zzz", encode_cursor(-1, False)[:-1] + "x", "LTE6MA"])
def test_a_bad_cursor_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="after"):
        decode_cursor(bad)


def test_three_names_or_more_are_also_indexed_by_every_three_sounds() -> None:
    keys = person_keys(SearchablePerson("p", "Maria Jose Perez Gonzalez"))
    assert [k for k in keys if k.startswith("tri:")] == ["tri:JS|KNSLS|MR", "tri:JS|KNSLS|PRS", "tri:JS|MR|PRS",
                                                        "tri:KNSLS|MR|PRS"]
    assert [k for k in person_keys(SearchablePerson("p", "Ana Lima")) if k.startswith("tri:")] == []


def test_a_name_query_reads_everything_first_then_pairs_then_tokens() -> None:
    assert name_levels_of_query("maria jose peres") == [["tri:JS|MR|PRS"],
                                                        ["pair:JS|MR", "pair:MR|PRS", "pair:JS|PRS"],
                                                        ["tok:MR", "tok:JS", "tok:PRS"]]
    assert name_levels_of_query("Maria Santos") == [["pair:MR|SNTS"], ["tok:MR", "tok:SNTS"]]
    assert name_levels_of_query("Maria") == [["tok:MR"]]


@pytest.mark.parametrize(("typed", "registered"), [
    ("carles", "Charles"), ("josep", "Joseph"), ("josef", "Joseph"), ("stepanie", "Stéphanie"),
    ("sancez", "Sánchez"), ("yimenez", "Jiménez"), ("royas", "Rojas"), ("castiyo", "Castillo"),
    ("viyalba", "Villalba"), ("yhon", "Jhon"), ("daiana", "Dayana"), ("cavez", "Chávez"),
])
def test_the_slips_of_a_hurried_desk_do_not_change_the_sound(typed: str, registered: str) -> None:
    assert sounds(typed) == sounds(registered)
