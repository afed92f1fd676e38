"""Policy files: validated at load, evaluated over a document's fields and attachment text.

The decision is the strongest action any rule takes (reject > hold > flag > pass), with
every hit listed: rule id, article, reason code, field and the words matched. A rule's
terms may need company (`also`: each of these clauses must match somewhere in the document
too) or be answered (`unless`: any of these clauses matching means the rule does not
apply), so that a rule can say "a foreign-affairs matter, unless a competent authority's
conclusion is cited" or "a normative preamble, in a document headed as a normative form".
The PAdES requirements per document type (`pdf_signatures`) are loaded here and checked by
broker.policy.signatures, which needs the trust store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from broker.directory.model import LEVELS, Level
from broker.policy import legacy, text
from kernel.errors import PolicyError
from kernel.reasons import ReasonCode

DEFAULT_POLICY = Path(__file__).with_name("default.yaml")
LEGACY_RULE = "A3.2-unicode"
Action = Literal["pass", "paper", "flag", "hold", "reject"]
ACTIONS: tuple[Action, ...] = ("pass", "paper", "flag", "hold", "reject")
"""Weakest first. `paper` only marks the delivery paper_copy_required (Article 5.3)."""
FIELDS = ("subject", "content", "type_name", "attachment_text")
_SCOPE_KEYS = {"sender_levels", "recipient_levels"}
_CLAUSE_KEYS = {"looks_at", "terms", "diacritics", "stamped", "not_before", "not_after",
                "followed_by", "within"}  # fmt: skip
_KEYS = {"id", "article", "reason", "action", "also", "unless", *_CLAUSE_KEYS, *_SCOPE_KEYS}
DEFAULT_WITHIN = 8
"""How many words may stand between a clause's term and its `followed_by` term."""
_SIGNATURE_KEYS = {"id", "article", "document_types", "require", "action", *_SCOPE_KEYS}
ANY_SIGNATURE = "any"
SIGNATURE_KINDS = (ANY_SIGNATURE, "organisation", "personal")
ANY_TYPE = "*"


@dataclasses.dataclass(frozen=True, slots=True)
class Parties:
    """The levels of a document's sender and recipients, from the unit directory."""

    sender_level: Level
    recipient_levels: frozenset[Level]


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Which exchanges a rule covers: senders of these levels, or documents to any recipient
    of these levels (the decision is per document, not per recipient); None means all."""

    sender_levels: frozenset[Level] | None = None
    recipient_levels: frozenset[Level] | None = None

    @property
    def limited(self) -> bool:
        return self.sender_levels is not None or self.recipient_levels is not None

    def covers(self, parties: Parties | None) -> bool:
        """A limited rule covers nothing when the parties are unknown (no directory)."""
        if not self.limited:
            return True
        if parties is None:
            return False
        senders_ok = self.sender_levels is None or parties.sender_level in self.sender_levels
        recipients_ok = self.recipient_levels is None or bool(
            parties.recipient_levels & self.recipient_levels
        )
        return senders_ok and recipients_ok


Folded = Mapping[str, Sequence[text.Words]]
"""Each field's texts as words, folded once for every rule."""


@dataclasses.dataclass(frozen=True, slots=True)
class Clause:
    """Terms looked for in some fields. With `followed_by`, a term counts only where one of
    those terms starts within `within` words after it (`ý kiến của ... Bộ Ngoại giao`)."""

    looks_at: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]
    loose: bool = False
    stamped: bool = False
    not_before: frozenset[str] = frozenset()
    not_after: frozenset[str] = frozenset()
    followed_by: tuple[tuple[str, ...], ...] = ()
    within: int = DEFAULT_WITHIN

    def hits(self, folded: Folded) -> Iterator[tuple[str, str]]:
        """(field, words matched) for each place the clause matches."""
        for field in self.looks_at:
            for field_words in folded.get(field, []):
                followers: list[int] | None = None
                for term in self.terms:
                    found = text.find(
                        field_words, term, loose=self.loose, stamped=self.stamped,
                        not_before=self.not_before, not_after=self.not_after,
                    )  # fmt: skip
                    for hit in found:
                        if self.followed_by:
                            if followers is None:
                                followers = self._followers(field_words)
                            if not any(hit.end <= f <= hit.end + self.within for f in followers):
                                continue
                        yield field, " ".join(field_words.folded[hit.start : hit.end])

    def _followers(self, field_words: text.Words) -> list[int]:
        """Where the `followed_by` terms start in this text (found once per text)."""
        return [
            after.start
            for term in self.followed_by
            for after in text.find(field_words, term, loose=self.loose)
        ]

    def matches(self, folded: Folded) -> bool:
        return next(self.hits(folded), None) is not None


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """Its own clause finds the hits; every `also` clause must match as well, and no
    `unless` clause may (each looks over the whole document, not only the hit's field)."""

    id: str
    article: str
    reason: ReasonCode
    action: Action
    match: Clause
    also: tuple[Clause, ...] = ()
    unless: tuple[Clause, ...] = ()
    scope: Scope = Scope()

    def hits(self, folded: Folded) -> list[Hit]:
        found = [
            Hit(self.id, self.article, self.reason.value, self.action, field, matched)
            for field, matched in self.match.hits(folded)
        ]
        if not found or not all(c.matches(folded) for c in self.also):
            return []
        return [] if any(c.matches(folded) for c in self.unless) else found


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureRule:
    """PDF attachments of these document types must carry valid signatures of these kinds.

    Every signature present is validated; `require` names the kinds that must be among them:
    `any` (at least one), `organisation`, `personal`. With none required a PDF may be
    unsigned, but a signature it carries must hold.
    """

    id: str
    article: str
    document_types: tuple[tuple[str, ...], ...] | None
    """Type names without diacritics, word by word; None for every type."""
    require: frozenset[str]
    action: Action
    scope: Scope = Scope()

    def applies_to(self, type_name: str | None, parties: Parties | None = None) -> bool:
        if not self.scope.covers(parties):
            return False
        if self.document_types is None:
            return True
        folded = tuple(text.words(type_name or "").plain)
        return folded in self.document_types


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    article: str
    reason_code: str
    action: Action
    field: str
    matched: str


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    hits: tuple[Hit, ...]

    @property
    def paper_copy_required(self) -> bool:
        return any(h.action == "paper" for h in self.hits)

    def as_json(self) -> dict[str, Any]:
        return {
            "action": "pass" if self.action == "paper" else self.action,
            "paper_copy_required": self.paper_copy_required,
            "rule_ids": sorted({h.rule for h in self.hits}),
            "articles": sorted({h.article for h in self.hits}),
            "reason_codes": sorted({h.reason_code for h in self.hits}),
            "hits": [dataclasses.asdict(h) for h in self.hits],
            "legacy_encoding": [
                {"field": h.field, "finding": h.matched} for h in self.hits if h.rule == LEGACY_RULE
            ],
        }


def decide(hits: Sequence[Hit]) -> Decision:
    unique = tuple(dict.fromkeys(hits))
    action: Action = max((h.action for h in unique), key=ACTIONS.index, default="pass")
    return Decision(action, unique)


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    version: int
    rules: tuple[Rule, ...]
    legacy_action: Action = "reject"
    """What text in TCVN3 or VNI gets (Article 3.2); its converted text shows in the hit."""
    pdf_signatures: tuple[SignatureRule, ...] = ()

    def limited_rules(self) -> list[str]:
        """Rules that need the parties' levels: skipped when they are unknown."""
        limited = [r.id for r in self.rules if r.scope.limited]
        return limited + [r.id for r in self.pdf_signatures if r.scope.limited]

    def evaluate(
        self, fields: Mapping[str, Sequence[str]], parties: Parties | None = None
    ) -> Decision:
        """`fields` maps each field name to its texts (attachment_text: one per file)."""
        folded = {name: [text.words(t) for t in texts] for name, texts in fields.items()}
        hits: list[Hit] = [
            Hit(LEGACY_RULE, "Đ3.2", ReasonCode.TEXT_NOT_UNICODE.value, self.legacy_action,
                field, f"{finding.encoding}: {finding.converted[:160]}")
            for field, texts in fields.items()
            for finding in (legacy.detect(t) for t in texts)
            if finding is not None
        ]  # fmt: skip
        for rule in (r for r in self.rules if r.scope.covers(parties)):
            hits += rule.hits(folded)
        return decide(hits)


def load(path: Path = DEFAULT_POLICY) -> Policy:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(ReasonCode.POLICY_INVALID, f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{path}: expected `version` and `rules`")
    if document.get("version") != 1:
        raise PolicyError(
            ReasonCode.POLICY_INVALID, f"{path}: policy version {document.get('version')!r} unknown"
        )
    rules = [
        _rule(entry, f"{path} rule {index + 1}") for index, entry in enumerate(document["rules"])
    ]
    signature_rules = [
        _signature_rule(entry, f"{path} pdf_signatures rule {index + 1}")
        for index, entry in enumerate(document.get("pdf_signatures") or [])
    ]
    ids = [r.id for r in rules] + [r.id for r in signature_rules]
    if len(set(ids)) != len(ids):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{path}: two rules share an id")
    legacy_action = (document.get("legacy_encoding") or {}).get("action", "reject")
    if legacy_action not in ACTIONS[1:]:
        raise PolicyError(
            ReasonCode.POLICY_INVALID, f"{path}: legacy_encoding.action must be an action"
        )
    return Policy(
        version=1,
        rules=tuple(rules),
        legacy_action=legacy_action,
        pdf_signatures=tuple(signature_rules),
    )


def _entry(entry: Any, where: str, keys: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    """A rule's mapping, with no key it does not know and every key it needs."""
    if not isinstance(entry, dict):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: not a mapping")
    unknown = set(entry) - keys
    if unknown:
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: unknown keys {sorted(unknown)}")
    for key in required:
        if not entry.get(key):
            raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: `{key}` is missing")
    return entry


def _scope(entry: dict[str, Any], where: str) -> Scope:
    levels: dict[str, frozenset[Level] | None] = {}
    for key in sorted(_SCOPE_KEYS):
        value = entry.get(key)
        if value is not None and (
            not isinstance(value, list) or not value or not set(value) <= set(LEVELS)
        ):
            raise PolicyError(
                ReasonCode.POLICY_INVALID, f"{where}: {key} lists some of {', '.join(LEVELS)}"
            )
        levels[key] = None if value is None else frozenset(value)
    return Scope(levels["sender_levels"], levels["recipient_levels"])


def _signature_rule(raw: Any, where: str) -> SignatureRule:
    entry = _entry(raw, where, _SIGNATURE_KEYS, ("id", "article", "action", "document_types"))
    if entry["action"] not in ("flag", "hold", "reject"):
        raise PolicyError(
            ReasonCode.POLICY_INVALID, f"{where}: action must be reject, hold or flag"
        )
    require = entry.get("require") or []
    if not isinstance(require, list) or not set(require) <= set(SIGNATURE_KINDS):
        raise PolicyError(
            ReasonCode.POLICY_INVALID,
            f"{where}: require lists some of {', '.join(SIGNATURE_KINDS)}",
        )
    types = entry["document_types"]
    if not isinstance(types, list) or not all(isinstance(t, str) and t.strip() for t in types):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: document_types is a list of names")
    return SignatureRule(
        id=str(entry["id"]),
        article=str(entry["article"]),
        document_types=None
        if ANY_TYPE in types
        else tuple(tuple(text.plain(w) for w in text.phrase(t)) for t in types),
        require=frozenset(require),
        action=entry["action"],
        scope=_scope(entry, where),
    )


def _rule(raw: Any, where: str) -> Rule:
    entry = _entry(raw, where, _KEYS, ("id", "article", "reason", "action", "looks_at", "terms"))
    try:
        reason = ReasonCode(entry["reason"])
    except ValueError:
        raise PolicyError(
            ReasonCode.POLICY_INVALID, f"{where}: {entry['reason']!r} is not a reason code"
        ) from None
    if entry["action"] not in ACTIONS[1:]:
        raise PolicyError(
            ReasonCode.POLICY_INVALID, f"{where}: action must be reject, hold, flag or paper"
        )
    match = _clause(entry, where, None)
    return Rule(
        id=str(entry["id"]),
        article=str(entry["article"]),
        reason=reason,
        action=entry["action"],
        match=match,
        also=_clauses(entry, "also", where, match),
        unless=_clauses(entry, "unless", where, match),
        scope=_scope(entry, where),
    )


def _clauses(entry: dict[str, Any], key: str, where: str, rule: Clause) -> tuple[Clause, ...]:
    """`also` or `unless`: a list of clauses, each taking the rule's fields and diacritics
    unless it names its own."""
    listed = entry.get(key) or []
    if not isinstance(listed, list):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: `{key}` is a list of clauses")
    return tuple(
        _clause(_entry(c, f"{where} {key} {i + 1}", _CLAUSE_KEYS, ("terms",)),
                f"{where} {key} {i + 1}", rule)
        for i, c in enumerate(listed)
    )  # fmt: skip


def _clause(entry: dict[str, Any], where: str, rule: Clause | None) -> Clause:
    looks_at = tuple(entry.get("looks_at") or (rule.looks_at if rule else ()))
    if not set(looks_at) <= set(FIELDS):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: looks_at takes {', '.join(FIELDS)}")
    default = "loose" if rule is not None and rule.loose else "exact"
    diacritics = entry.get("diacritics", default)
    if diacritics not in ("exact", "loose"):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: diacritics is exact or loose")
    terms = _terms(entry.get("terms"), where, "terms")
    followed_by = (
        _terms(entry["followed_by"], where, "followed_by") if "followed_by" in entry else ()
    )
    within = entry.get("within", DEFAULT_WITHIN)
    if not isinstance(within, int) or isinstance(within, bool) or not 0 <= within <= 50:
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: within is 0 to 50 words")
    return Clause(
        looks_at=looks_at,
        terms=terms,
        loose=diacritics == "loose",
        stamped=bool(entry.get("stamped", False)),
        not_before=frozenset(w for t in entry.get("not_before", []) for w in text.phrase(str(t))),
        not_after=frozenset(w for t in entry.get("not_after", []) for w in text.phrase(str(t))),
        followed_by=followed_by,
        within=within,
    )


def _terms(listed: Any, where: str, key: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(listed, list) or not listed:
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: `{key}` is a list of terms")
    terms = tuple(text.phrase(str(t)) for t in listed)
    if not all(terms):
        raise PolicyError(ReasonCode.POLICY_INVALID, f"{where}: a term has no words")
    return terms
