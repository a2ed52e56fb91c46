"""factory_boy factories for the domain's rows."""

import factory
from django.utils import timezone

from leadflow.accounts.models import Account, Contact
from leadflow.accounts.services import KEY_FIELDS, set_keys
from leadflow.leads.models import Lead, LeadSource, StageChange
from leadflow.leads.services import refresh_lead_history
from leadflow.users.models import Role, Team, User


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.SALES
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    domain = factory.Sequence(lambda n: f"company{n}.example")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@company.example")
    account = factory.SubFactory(AccountFactory)

    @factory.post_generation
    def keys(obj, create, extracted, **kwargs):
        """The match keys the contact services keep (see accounts.matching)."""
        set_keys(obj)
        if create:
            obj.save(update_fields=KEY_FIELDS)


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead with its 'captured' history row, as the capture service writes it."""

    class Meta:
        model = Lead
        skip_postgeneration_save = True

    contact = factory.SubFactory(ContactFactory)
    source = LeadSource.INBOUND_MARKETING
    created_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def history(obj, create, extracted, **kwargs):
        if create:
            StageChange.objects.create(lead=obj, from_stage="", to_stage="lead", at=obj.created_at, reason="Captured")
            refresh_lead_history([obj.pk])
            obj.refresh_from_db(fields=["furthest_stage"])
