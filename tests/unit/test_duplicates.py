from __future__ import annotations

from datetime import date

from migradesk_intake.domain.duplicates import PersonRecord, Strength, find_candidates, normalise_name, phonetic_key
from migradesk_shared.contracts.vocabulary import DocumentType

BORN = date(1988, 3, 14)


def test_spellings_of_jose_da_silva_are_the_same_person_and_say_why() -> None:
    registered = [PersonRecord("p1", "José da Silva", BORN, "BRA"), PersonRecord("p2", "Maria Souza", BORN, "BRA")]
    for spelling in ("José da Silva", "Jose Da  Silva", "JOSÉ DA SILVA"):
        candidates = find_candidates(PersonRecord("new", spelling, BORN, "BRA"), registered)
        assert [c.person_id for c in candidates] == ["p1"]
        assert candidates[0].strength is Strength.PROBABLE
        assert "same name (ignoring accents, case and spacing)" in candidates[0].reasons
        assert "same birth date" in candidates[0].reasons


def test_a_shared_document_number_is_a_strong_match_even_with_another_name() -> None:
    old = PersonRecord("p1", "Yusnavy Hernández", None, "VEN", ((DocumentType.CPF, "123.456.789-09"),))
    new = PersonRecord("new", "Jusnavi Hernandes", date(1990, 1, 1), "VEN", ((DocumentType.CPF, "12345678909"),))
    [candidate] = find_candidates(new, [old])
    assert candidate.strength is Strength.STRONG
    assert candidate.score == 100
    assert "same cpf number" in candidate.reasons


def test_phonetic_variants_with_the_same_birth_date_are_candidates() -> None:
    assert phonetic_key("Yesica Gonzalez") == phonetic_key("Jesica Gonsales") or \
        phonetic_key("Yésica González") == phonetic_key("Yesica Gonsalez")
    old = PersonRecord("p1", "Yésica González", BORN, "VEN")
    [candidate] = find_candidates(PersonRecord("new", "Yesica Gonsalez", BORN, "VEN"), [old])
    assert "names sound the same" in candidate.reasons
    assert candidate.strength in (Strength.PROBABLE, Strength.POSSIBLE)


def test_same_name_but_different_birth_date_and_nationality_is_not_a_candidate() -> None:
    old = PersonRecord("p1", "José da Silva", date(1950, 1, 1), "BRA")
    assert find_candidates(PersonRecord("new", "José da Silva", BORN, "HTI"), [old]) == []


def test_different_people_are_not_candidates() -> None:
    old = PersonRecord("p1", "Jean-Baptiste Pierre", BORN, "HTI")
    assert find_candidates(PersonRecord("new", "Ana Lucía Rojas", BORN, "HTI"), [old]) == []


def test_candidates_are_ranked_best_first() -> None:
    registered = [PersonRecord("weak", "Jose Silva", BORN, "VEN"),
                  PersonRecord("strong", "Outro Nome", None, None, ((DocumentType.PASSPORT, "AB123456"),)),
                  PersonRecord("probable", "José da Silva", BORN, "BRA")]
    new = PersonRecord("new", "José da Silva", BORN, "BRA", ((DocumentType.PASSPORT, "ab-123456"),))
    ranked = find_candidates(new, registered)
    assert [c.person_id for c in ranked][:2] == ["strong", "probable"]


def test_normalisation() -> None:
    assert normalise_name("  JOSÉ   da\tSilva-Núñez ") == "jose da silva nunez"


def test_each_reason_has_a_stable_code_in_the_same_order() -> None:
    """Pages say the reasons in their own language from the codes; the English reasons stay as they were."""
    old = PersonRecord("p1", "Jean-Baptiste Pierre", BORN, "HTI", ((DocumentType.PASSPORT, "HT123456"),))
    new = PersonRecord("new", "jean baptiste  PIERRE", BORN, "HTI", ((DocumentType.PASSPORT, "ht-123456"),))
    [candidate] = find_candidates(new, [old])
    assert candidate.codes == ("same_document:passport", "same_name", "same_birth_date", "same_nationality")
    assert candidate.reasons == ("same passport number", "same name (ignoring accents, case and spacing)",
                                 "same birth date", "same nationality")
    sounds = find_candidates(PersonRecord("new", "Yesica Gonsalez", BORN),
                             [PersonRecord("p1", "Yésica González", BORN)])
    assert [c.codes for c in sounds] == [("name_sounds_same", "same_birth_date")]
    similar = find_candidates(PersonRecord("new", "Maria Fernanda Rojas", BORN, "VEN"),
                              [PersonRecord("p1", "Maria Fernanda Rojo", BORN, "VEN")])
    assert [c.codes for c in similar] == [("similar_name", "same_birth_date", "same_nationality")]
    assert len(similar[0].codes) == len(similar[0].reasons) and similar[0].reasons[0].startswith("similar names (")
