"""Finding a registered person at the desk by name (misspelt, without accents), document number or phone.

A person is indexed under *keys*: ``tok:<sound>`` for each name token, ``pair:<sound>|<sound>`` for every
unordered pair of name tokens (particles dropped, at most MAX_NAME_TOKENS tokens), ``doc:<number>`` for each
document number without punctuation, and ``phone:<last 8 digits>``. The sound of a token is the phonetic code
of duplicates.phonetic_key after a few more respellings common at a Brazilian desk writing Spanish, French and
Creole names (j/y/i before a vowel, silent h, gu/qu before e/i, b/v).

A person is also indexed under ``tri:<sound>|<sound>|<sound>`` for every three of their name's sounds.

A query that looks like a number (`looks_like_number`) is looked up by document and phone; a name query by
levels (`name_levels_of_query`): first the keys of everyone sharing all its sounds (a triple of sounds is very
selective, a pair quite), then the pairs, then the single token keys, a level read only when the ones before
gave fewer candidates than a page (a common single name like Maria is read bounded, see the adapter). A cursor
says how many levels were read, so every page ranks the same candidates. Candidates are
ranked here (`rank`): every query token heard in the name beats a partial match; the Jaro–Winkler similarity of
the tokens breaks ties, then the name and the id, so pages are stable. A cursor is an offset into that list
(and how many levels were read), which is bounded.

Pure: the adapters (migradesk_intake.adapters.search_index) store and read the keys.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import combinations

import jellyfish

from migradesk_intake.domain.duplicates import PARTICLES, _respell, normalise_document, normalise_name

MAX_NAME_TOKENS = 6
PHONE_DIGITS = 8
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class SearchablePerson:
    person_id: str
    full_name: str
    birth_date: date | None = None
    documents: tuple[str, ...] = ()  # numbers as typed (any type)
    phone: str | None = None  # E.164, e.g. +5567999998888


@dataclass(frozen=True)
class SearchHit:
    person_id: str
    full_name: str
    birth_date: date | None
    score: int  # 0..100
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None


@dataclass(frozen=True)
class Candidate:
    """What ranking needs of an indexed person, and which identifiers of the query they share."""

    person_id: str
    full_name: str
    normalised_name: str
    birth_date: date | None = None
    same_document: bool = False
    same_phone: bool = False


def respell(token: str) -> str:
    """The slips a hurried desk makes must not change the sound: an h left out anywhere (Charles / Carles,
    Joseph / Josep, Sánchez / Sancez, Jhon / Jon), ll written y (Castillo / Castiyo), ph written f (Joseph /
    Josef, so f and p sound alike), j written y and y written i (Jiménez / Yiménez, Rojas / Royas, Dayana /
    Daiana); then duplicates' respelling of Iberian/Creole spellings, then the ones a search must also forgive."""
    token = token.replace("ll", "y").replace("h", "").replace("f", "p")
    token = re.sub(r"y(?=[aeiou])", "j", token)  # Yiménez / Jiménez, Royas / Rojas
    token = _respell(token)
    token = re.sub(r"^[jiy](?=[aeiou])", "j", token)  # Johana / Yohana / Iohana
    token = re.sub(r"(?<=[aeiou])[ij](?=[aeiou])", "j", token)  # Dayana / Daiana, Rojas / Royas
    token = re.sub(r"([gq])u(?=[ei])", r"\1", token).replace("q", "k")  # Rodriguez / Rodriges, Miguel / Migel
    token = token.replace("v", "b")  # Silva / Silba, Alvarez / Albarez
    return re.sub(r"(.)\1+", r"\1", token)


@lru_cache(maxsize=1 << 16)
def sound(token: str) -> str:
    """Cached: a search ranks hundreds of names made of the same few thousand tokens."""
    return jellyfish.metaphone(respell(token)) or token


def name_tokens(full_name: str) -> list[str]:
    """Normalised tokens, particles dropped, at most MAX_NAME_TOKENS ('Jean-Pierre' is two tokens)."""
    return [t for t in normalise_name(full_name).split() if t not in PARTICLES][:MAX_NAME_TOKENS]


def sounds(full_name: str) -> list[str]:
    """The sound of each name token, without repeats, in order."""
    return list(dict.fromkeys(sound(t) for t in name_tokens(full_name)))


def pair_key(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"pair:{first}|{second}"


def triple_key(a: str, b: str, c: str) -> str:
    return "tri:" + "|".join(sorted((a, b, c)))


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def phone_key(phone: str) -> str | None:
    found = digits(phone)
    return f"phone:{found[-PHONE_DIGITS:]}" if len(found) >= PHONE_DIGITS else None


def document_key(number: str) -> str | None:
    normalised = normalise_document(number)
    return f"doc:{normalised}" if normalised else None


def person_keys(person: SearchablePerson) -> list[str]:
    """Every key the person is found by, sorted, without repeats."""
    tokens = sounds(person.full_name)
    keys = {f"tok:{s}" for s in tokens}
    keys.update(pair_key(a, b) for a, b in combinations(tokens, 2))
    keys.update(triple_key(a, b, c) for a, b, c in combinations(tokens, 3))
    keys.update(k for k in (document_key(n) for n in person.documents) if k)
    if person.phone and (key := phone_key(person.phone)):
        keys.add(key)
    return sorted(keys)


def validate_query(text: str, page_size: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("q must not be blank")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}")
    return text.strip()


def looks_like_number(text: str) -> bool:
    """A document number or a phone: at least 4 digits, digits are at least half of its letters and digits, and
    no run of 3 letters or more ('123.456.789-00', '(67) 99999-8888', 'FH123456'; not 'Ana 1990')."""
    alnum = re.sub(r"[^0-9A-Za-z]", "", text)
    found = digits(text)
    return len(found) >= 4 and len(found) * 2 >= len(alnum) and not re.search(r"[^\W\d_]{3}", text)


def number_keys(text: str) -> list[str]:
    """The keys of a number query: the document it may be, and the phone it may be."""
    keys = [k for k in (document_key(text), phone_key(text)) if k]
    return list(dict.fromkeys(keys))


def pair_keys_of_query(text: str) -> list[str]:
    tokens = sounds(text)
    return [pair_key(a, b) for a, b in combinations(tokens, 2)]


def triple_keys_of_query(text: str) -> list[str]:
    tokens = sounds(text)
    return [triple_key(a, b, c) for a, b, c in combinations(tokens, 3)]


def name_levels_of_query(text: str) -> list[list[str]]:
    """The keys a name query reads, level by level, each read only when the levels before it gave fewer
    candidates than a page: the keys every candidate sharing ALL the query's sounds is under (the triples for
    three sounds or more, else the pair, else the token), then the pairs, then the tokens (each level repeats
    none of an earlier one)."""
    tokens = sounds(text)
    levels = [triple_keys_of_query(text), pair_keys_of_query(text), token_keys_of_query(text)]
    first = 0 if len(tokens) >= 3 else 1 if len(tokens) == 2 else 2
    return levels[first:]


def token_keys_of_query(text: str) -> list[str]:
    return [f"tok:{s}" for s in sounds(text)]


def _best_matches(these: list[str], those: list[str]) -> float:
    """The mean, over `these` tokens, of the best Jaro–Winkler similarity to one of `those`."""
    jw = jellyfish.jaro_winkler_similarity
    return sum([max([jw(a, b) for b in those]) for a in these]) / len(these)


def token_similarity(query_tokens: list[str], name: str) -> float:
    """How alike the names are, token by token, in 0..1: mostly how well each query token is found in the
    name, and a quarter how well the name's tokens are explained by the query (fewer extra names rank first)."""
    tokens = [t for t in name.split() if t not in PARTICLES]
    if not query_tokens or not tokens:
        return 0.0
    return 0.75 * _best_matches(query_tokens, tokens) + 0.25 * _best_matches(tokens, query_tokens)


@lru_cache(maxsize=1 << 16)
def _heard(normalised_name: str) -> frozenset[str]:
    return frozenset(sounds(normalised_name))


@lru_cache(maxsize=1024)
def _query_parts(query: str) -> tuple[str, list[str], list[str]]:
    query_tokens = name_tokens(query)
    return normalise_name(query), query_tokens, [sound(t) for t in query_tokens]


def score_name(query: str, candidate: Candidate) -> tuple[int, int, float, tuple[str, ...]]:
    """(score 0..100, query tokens heard in the name, similarity, reasons)."""
    query_norm, query_tokens, query_sounds = _query_parts(query)
    heard = _heard(candidate.normalised_name)
    matched = sum(1 for s in query_sounds if s in heard)
    similarity = token_similarity(query_tokens, candidate.normalised_name)
    reasons: list[str] = []
    everything = bool(query_sounds) and matched == len(query_sounds)
    if query_norm and query_norm == candidate.normalised_name:
        reasons.append("same name")
        score = 100
    elif everything:
        reasons.append("name sounds the same")
        score = 70 + round(25 * similarity)
    else:
        score = round(60 * matched / max(len(query_sounds), 1) * similarity)
        if matched:
            reasons.append(f"{matched} of {len(query_sounds)} names sound the same")
    if similarity >= 0.85 and "same name" not in reasons:
        reasons.append(f"similar name ({similarity:.2f})")
    return min(score, 99) if "same name" not in reasons else score, matched, similarity, tuple(reasons)


def rank(query: str, candidates: Iterable[Candidate], *, by_number: bool) -> list[SearchHit]:
    """Best first. By number: same document, then same phone. By name: all query tokens heard beats partial,
    then more tokens heard, then similarity; then the name and the id, for a stable order."""
    ranked: list[tuple[tuple[object, ...], SearchHit]] = []
    for c in candidates:
        if by_number:
            reasons = tuple(r for r, hit in (("same document number", c.same_document), ("same phone", c.same_phone))
                            if hit)
            if not reasons:
                continue
            score = 100 if c.same_document else 90
            order: tuple[object, ...] = (-score, c.normalised_name, c.person_id)
        else:
            score, matched, similarity, reasons = score_name(query, c)
            if matched == 0 and similarity < 0.85:
                continue
            order = (-(score == 100), -matched, -round(similarity, 6), c.normalised_name, c.person_id)
        ranked.append((order, SearchHit(person_id=c.person_id, full_name=c.full_name, birth_date=c.birth_date,
                                        score=score, reasons=reasons)))
    return [hit for _, hit in sorted(ranked, key=lambda pair: pair[0])]


def encode_cursor(offset: int, widened: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{int(widened)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(offset into the ranked list, how many levels past the first were read: 0, 1 or 2)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        offset_text, widened_text = raw.split(":")
        offset, widened = int(offset_text), int(widened_text)
        if offset < 0 or widened_text not in ("0", "1", "2"):
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("after is not a cursor this search gave") from exc
    return offset, widened


def page_of(hits: list[SearchHit], offset: int, page_size: int, widened: int) -> SearchPage:
    chosen = hits[offset:offset + page_size]
    more = offset + page_size < len(hits)
    return SearchPage(hits=chosen, next_cursor=encode_cursor(offset + page_size, widened) if more else None)
