"""Forms of the admin settings: stages, pipelines and lost reasons, users and teams."""

from django import forms

from leadflow.users.models import Role, Team


class StageForm(forms.Form):
    name = forms.CharField(max_length=100)
    probability = forms.IntegerField(min_value=0, max_value=100)


class NewStageForm(StageForm):
    kind = forms.ChoiceField(choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")], initial="open")


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)


class UserForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    team = forms.ModelChoiceField(Team.objects.all(), required=False)
    is_active = forms.BooleanField(required=False, label="Active")


class NewUserForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.SALES)
    team = forms.ModelChoiceField(Team.objects.all(), required=False)
