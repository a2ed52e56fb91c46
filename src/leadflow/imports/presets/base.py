"""What a product's export looks like to leadflow: its kinds of file, the columns of each (every spelling: API
names and the labels of report exports), and how its values map to leadflow's."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from leadflow.leads.models import LifecycleStage

PEOPLE, COMPANIES, DEALS, USERS = "people", "companies", "deals", "users"
# Deal stages as a product's value maps them: an index into leadflow's open stages, or won / lost.
WON, LOST = "won", "lost"
DealStage = int | str
T = TypeVar("T")


def header_key(header: str) -> str:
    """A header as compared: lower case, letters and digits only ("Country/Region" → "countryregion")."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


def value_key(value: str) -> str:
    """A value as looked up: trimmed, lower case, inner spaces collapsed."""
    return " ".join(value.split()).lower()


@dataclass(frozen=True)
class ObjectFile:
    """One kind of file a product exports: what it holds and {field: the headers that may carry it}."""

    kind: str  # PEOPLE, COMPANIES, DEALS or USERS
    label: str  # "HubSpot contacts"
    file_names: tuple[str, ...]  # lower-case file name stems that name it ("contacts", "lead")
    columns: dict[str, tuple[str, ...]]

    def keys(self) -> dict[str, str]:
        """{header key: field}."""
        return {header_key(header): name for name, headers in self.columns.items() for header in headers}

    def mapping(self, headers: list[str]) -> dict[str, str]:
        """{field: the file's header for it}, the first spelling present winning."""
        present = {header_key(header): header for header in reversed(headers)}
        found: dict[str, str] = {}
        for name, spellings in self.columns.items():
            header = next((present[header_key(s)] for s in spellings if header_key(s) in present), None)
            if header is not None:
                found[name] = header
        return found


@dataclass
class Funnel:
    """Where a person stood in the product's funnel, as leadflow steps: each (stage, reason naming the value)."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    # The product's stage that only a deal reaches in leadflow (opportunity, customer), as a reason; "" if none.
    through_deals: str = ""
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (field, value) the product's tables lack


@dataclass(frozen=True)
class Vendor:
    """A product whose exports leadflow reads."""

    name: str  # the preset: "hubspot"
    label: str  # "HubSpot"
    files: tuple[ObjectFile, ...]
    sources: Mapping[str, str]  # value key → LeadSource
    deal_stages: Mapping[str, DealStage]  # value key → open stage index, WON or LOST
    funnel: Callable[[dict[str, str]], Funnel]  # a person's cleaned text values → their funnel

    def object_file(self, name: str, headers: list[str]) -> ObjectFile | None:
        """The kind of file this is: named so ("Lead.csv", "contacts-2024.csv"), else the one whose columns it
        has most of (at least two); None when it is none of this product's."""
        stem = name.lower().rsplit("/", 1)[-1].split(".")[0]
        for candidate in self.files:
            if stem in candidate.file_names:
                return candidate
        keys = {header_key(header) for header in headers}
        scored = sorted(((len(keys & c.keys().keys()), i) for i, c in enumerate(self.files)), reverse=True)
        best, index = scored[0]
        if best < 2 or (len(scored) > 1 and scored[1][0] == best):
            return None
        return self.files[index]


# What a product's funnel value means in leadflow: a lifecycle stage, or THROUGH_DEALS for the product's
# opportunity and customer stages, which leadflow reaches only with a deal.
THROUGH_DEALS = "through_deals"
LEAD, PROSPECT = LifecycleStage.LEAD, LifecycleStage.PROSPECT
DISQUALIFIED, RECYCLED = LifecycleStage.DISQUALIFIED, LifecycleStage.RECYCLED


def funnel_of(values: dict[str, str], rules: list[tuple[str, str, Mapping[str, str]]]) -> Funnel:
    """The funnel read from a person's values by rules (field, column as the reason names it, {value key: meaning}),
    in order; a value no rule's table holds is unknown, and the person stays where they are."""
    funnel = Funnel()
    for name, column, meanings in rules:
        raw = values.get(name, "")
        if not raw:
            continue
        meaning = meanings.get(value_key(raw))
        if meaning is None:
            funnel.unknown.append((name, raw))
        elif meaning == THROUGH_DEALS:
            funnel.through_deals = f"{column}: {raw}"
        elif meaning != LEAD:
            funnel.steps.append((meaning, f"{column}: {raw}"))
    return funnel


def values_and_labels(*triples: tuple[str, str, T]) -> dict[str, T]:
    """{value key: meaning} from (internal value, label, meaning) triples: exports carry either."""
    return {value_key(text): meaning for value, label, meaning in triples for text in (value, label)}
