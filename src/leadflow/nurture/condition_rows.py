"""Segment conditions and step settings as the web builder posts them, rows of texts, made into the values
`clean_conditions` and the nurture services take (they still check them)."""

from .segments import CHOICES, NUMBERS, TEXTS

YES, NO = ("yes", "true", "1"), ("no", "false", "0")


def operators_for(field: str) -> list[str]:
    """The operators a condition on this field takes (see nurture.segments)."""
    if field in CHOICES:
        return ["in", "not_in"]
    if field in TEXTS:
        return ["contains"]
    if field in NUMBERS:
        return ["gte", "lte"]
    return {"email_opt_in": ["is"], "inactive_days": ["gte"], "created_days": ["lte"]}.get(field, ["at_least", "none"])


def typed_value(text: str) -> object:
    """A number when the text is one, else the text (the service says what it should have been)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def yes_or_no(text: str) -> object:
    word = text.strip().lower()
    return True if word in YES else False if word in NO else text


def segment_conditions(rows: list[dict[str, str]]) -> list[dict]:
    """Condition rows as texts (`SegmentForm.rows_in`) made into conditions as `clean_conditions` takes them."""
    return [_condition(row) for row in rows]


def _condition(row: dict[str, str]) -> dict:
    field, value = row["field"], row["value"].strip()
    condition: dict = {"field": field, "op": row["op"]}
    if field in CHOICES:
        condition["value"] = [part.strip() for part in value.split(",") if part.strip()]
    elif field in TEXTS:
        condition["value"] = value
    elif field == "email_opt_in":
        condition["value"] = yes_or_no(value)
    elif field != "event" or row["op"] != "none":
        condition["value"] = typed_value(value)
    if field == "event":
        condition["type"] = row["type"]
        if row["within_days"].strip():
            condition["within_days"] = typed_value(row["within_days"].strip())
        if row["property"].strip() or row["contains"].strip():
            condition.update(property=row["property"].strip(), contains=row["contains"].strip())
    return condition
