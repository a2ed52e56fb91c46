"""What every form shares: a service's refusal shown on the form, and a form's errors on one line."""

from django import forms

from leadflow.errors import DomainError


def add_domain_errors(form: forms.BaseForm, error: DomainError) -> None:
    """Show a service's refusal on the form: on the fields it names, else above the form."""
    placed = False
    for field, messages in error.errors.items():
        # `config.days` lands on a field named `days` when the form has no `config.days`.
        names = (field, f"{field}_id", field.rpartition(".")[2])
        target = next((name for name in names if name in form.fields), None)
        for message in messages:
            form.add_error(target, message)
            placed = placed or target is not None
    if not placed:
        form.add_error(None, error.detail)


def error_summary(form: forms.Form) -> str:
    """All of a form's errors on one line, each with its field: for plain-text answers and flash messages."""
    return "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())


def _blank(label: str) -> list[tuple[str, str]]:
    return [("", label)]
