"""Forms of the pipeline: activities and tasks, quick log, stage moves, closing, notes."""

from django import forms

from leadflow.pipeline.models import ActivityKind, LostReason


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Notes")
    outcome = forms.CharField(max_length=100, required=False)
    due_at = forms.DateTimeField(
        required=False, label="Due (tasks)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class QuickLogForm(forms.Form):
    lead = forms.IntegerField(widget=forms.Select, label="Lead")
    kind = forms.ChoiceField(choices=[("call", "Call"), ("email", "Email")])
    subject = forms.CharField(max_length=200)
    outcome = forms.CharField(max_length=100, required=False)


class MoveForm(forms.Form):
    stage = forms.IntegerField()


class CloseForm(forms.Form):
    won = forms.TypedChoiceField(choices=[("1", "Won"), ("0", "Lost")], coerce=lambda v: v == "1")
    lost_reason = forms.ModelChoiceField(LostReason.objects.filter(is_active=True), required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Review note")


class NoteForm(forms.Form):
    review_note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="What did we learn from this deal?"
    )
