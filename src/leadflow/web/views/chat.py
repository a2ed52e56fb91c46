"""The website chat: scripts with their report, the script builder, and conversations with their transcripts."""

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from leadflow.chat import selectors, services
from leadflow.errors import DomainError
from leadflow.tracking.selectors import sites_visible_to

from ..forms import NewScriptForm, ScriptSettingsForm, StepRows, add_domain_errors, step_initial
from .common import current, only_for, page_of, submit_form

script_editors_only = only_for(services.can_edit_scripts)
STEP_ERROR = re.compile(r"^steps\[(\d+)\](?:\.(\w+))?")


def _widget_tags(request: HttpRequest) -> list[dict[str, str]]:
    return [
        {"site": site.name, "tag": f'<script async src="{settings.PUBLIC_URL}/chat/widget.js" data-site="{site.key}">'
                                   "</script>"}
        for site in sites_visible_to(current(request))
    ]  # fmt: skip


def _scripts_page(request: HttpRequest, form: NewScriptForm, *, status: int = 200) -> HttpResponse:
    context = {
        "page": page_of(request, selectors.scripts_with_figures(current(request))),
        "form": form,
        "widgets": _widget_tags(request),
    }
    return render(request, "web/chat/scripts.html", context, status=status)


@script_editors_only
def script_list(request: HttpRequest) -> HttpResponse:
    """Every chat script with its report (started, finished, leads, qualified, opportunities), and a new one."""
    if request.method != "POST":
        return _scripts_page(request, NewScriptForm())
    return submit_form(
        request,
        NewScriptForm(request.POST),
        lambda data: services.save_script(None, by=current(request), name=data["name"])[0],
        lambda script: f"Script {script.name} created: write its steps.",
        lambda form: _scripts_page(request, form, status=422),
        back=lambda script: reverse("web:chat_script", args=[script.pk]),
    )


def _place_step_errors(rows: Any, kept: list[int], error: DomainError) -> bool:
    """Show a refusal naming `steps[i].field` on that row's field; False when it names no step."""
    placed = False
    for name, problems in error.errors.items():
        match = STEP_ERROR.match(name)
        if match is None or int(match.group(1)) >= len(kept):
            continue
        row = rows.forms[kept[int(match.group(1))]]
        field = {"else": "else_step"}.get(match.group(2) or "", match.group(2) or "")
        for problem in problems:
            row.add_error(field if field in row.fields else None, problem)
        placed = True
    return placed


@script_editors_only
def script_detail(request: HttpRequest, script_id: int) -> HttpResponse:
    """The script builder: settings, and the steps in order (a row per step; an empty row adds one)."""
    script = selectors.get_script(current(request), script_id)
    if request.method == "POST":
        form = ScriptSettingsForm(request.POST, instance=script)
        rows = StepRows(request.POST, prefix="steps")
        if form.is_valid() and rows.is_valid():
            kept = [i for i, row in enumerate(rows.forms) if row.cleaned_data.get("id") and
                    not row.cleaned_data.get("DELETE")]  # fmt: skip
            data = {name: form.cleaned_data[name] for name in ScriptSettingsForm.Meta.fields}
            try:
                steps = [rows.forms[i].step() for i in kept]
                saved, warnings = services.save_script(script, by=current(request), steps=steps, **data)
            except DomainError as error:
                if not _place_step_errors(rows, kept, error):
                    add_domain_errors(form, error)
            else:
                messages.success(request, f"Script {saved.name} saved.")
                for warning in warnings:
                    messages.warning(request, warning)
                return redirect("web:chat_script", saved.pk)
        status = 422
    else:
        form = ScriptSettingsForm(instance=script)
        rows = StepRows(initial=[step_initial(step) for step in script.steps], prefix="steps")
        status = 200
    context = {"script": script, "form": form, "rows": rows}
    return render(request, "web/chat/script.html", context, status=status)


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    """The conversations of the leads the user may see (and anonymous ones for those who run the chat)."""
    rows = selectors.conversations_visible_to(current(request)).order_by("-last_message_at", "-id")
    return render(request, "web/chat/conversations.html", {"page": page_of(request, rows)})


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One conversation's transcript, with the lead it brought."""
    conversation = selectors.get_conversation(current(request), conversation_id)
    context = {"conversation": conversation, "transcript": conversation.messages.all()}
    return render(request, "web/chat/conversation.html", context)
