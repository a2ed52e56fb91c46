"""Accounts, contacts and the signed-in user."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from leadflow.accounts import selectors, services
from leadflow.accounts.models import Account, Contact, EmployeeBand, RevenueBand, Seniority
from leadflow.errors import NotAllowed
from leadflow.users.models import User

from .auth import current_user
from .columns import Body, Flag, Id, Text, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids
from .statuses import may_conflict

router = Router(tags=["accounts"])


class MeOut(Schema):
    id: int
    username: str
    full_name: str
    role: str
    team_id: int | None

    @staticmethod
    def resolve_full_name(obj: User) -> str:
        return obj.get_full_name()


@router.get("/me", response=MeOut, tags=["users"])
def me(request: HttpRequest) -> User:
    """The user the token belongs to, with their role and team."""
    return current_user(request)


class AccountIn(Body):
    name: Text = Field(..., max_length=200)
    domain: Text | None = Field(None, max_length=200)
    industry: Text = Field("", max_length=100)
    employee_band: EmployeeBand | None = None
    revenue_band: RevenueBand | None = None
    region: Text = Field("", max_length=100)
    country: Text = Field("", max_length=2)
    owner_id: Id | None = None
    external_id: Text | None = Field(None, max_length=100)


class AccountPatch(AccountIn):
    name: Text = omittable(max_length=200)


class AccountOut(Schema):
    id: int
    name: str
    domain: str | None
    industry: str
    employee_band: str
    revenue_band: str
    region: str
    country: str
    owner_id: int | None
    external_id: str | None
    created_at: str

    @staticmethod
    def resolve_created_at(obj: Account) -> str:
        return obj.created_at.isoformat()


ACCOUNT_REFS = {"owner_id": (User, "owner")}


def _account_fields(payload: Schema, *, partial: bool) -> dict:
    fields = payload.dict(exclude_unset=partial)
    for band in ("employee_band", "revenue_band"):
        if band in fields:
            fields[band] = fields[band] or ""
    return resolve_ids(fields, ACCOUNT_REFS)


@router.get("/accounts", response=page_of(AccountOut))
def list_accounts(request: HttpRequest, page: Query[PageParams], search: Text | None = None) -> dict:
    return paginate(selectors.account_list(search=search), page)


@router.post("/accounts", response={201: AccountOut})
@may_conflict
def create_account(request: HttpRequest, payload: AccountIn) -> Status:
    return Status(201, services.create_account(**_account_fields(payload, partial=False)))


@router.get("/accounts/{account_id}", response=AccountOut)
def get_account(request: HttpRequest, account_id: Id) -> Account:
    return get_object_or_404(Account, pk=account_id)


@router.patch("/accounts/{account_id}", response=AccountOut)
@may_conflict
def update_account(request: HttpRequest, account_id: Id, payload: AccountPatch) -> Account:
    account = get_object_or_404(Account, pk=account_id)
    return services.update_account(account, **_account_fields(payload, partial=True))


def _ensure_can_delete(user: User) -> None:
    if not (user.is_admin or user.is_manager):
        raise NotAllowed("Only managers and admins may delete records.")


@router.delete("/accounts/{account_id}", response={204: None})
@may_conflict
def delete_account(request: HttpRequest, account_id: Id) -> Status:
    _ensure_can_delete(current_user(request))
    services.delete_account(get_object_or_404(Account, pk=account_id))
    return Status(204, None)


class ContactIn(Body):
    first_name: Text = Field("", max_length=100)
    last_name: Text = Field("", max_length=100)
    email: Text | None = Field(None, max_length=254)
    phone: Text = Field("", max_length=50)
    job_title: Text = Field("", max_length=200)
    seniority: Seniority | None = None
    role_function: Text = Field("", max_length=100)
    account_id: Id | None = None
    country: Text = Field("", max_length=2, description="ISO 3166-1 alpha-2; the phone is read in it")
    email_opt_in: Flag = False
    do_not_contact: Flag = False
    external_id: Text | None = Field(None, max_length=100)


class ContactOut(Schema):
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str
    job_title: str
    seniority: str
    role_function: str
    account_id: int | None
    country: str
    phone_key: str | None
    email_opt_in: bool
    do_not_contact: bool
    consent_recorded_at: str | None
    external_id: str | None

    @staticmethod
    def resolve_consent_recorded_at(obj: Contact) -> str | None:
        return obj.consent_recorded_at.isoformat() if obj.consent_recorded_at else None


CONTACT_REFS = {"account_id": (Account, "account")}


def _contact_fields(payload: Schema, *, partial: bool) -> dict:
    fields = payload.dict(exclude_unset=partial)
    if "seniority" in fields:
        fields["seniority"] = fields["seniority"] or ""
    return resolve_ids(fields, CONTACT_REFS)


@router.get("/contacts", response=page_of(ContactOut), tags=["contacts"])
def list_contacts(
    request: HttpRequest, page: Query[PageParams], search: Text | None = None, account_id: Id | None = None
) -> dict:
    return paginate(selectors.contact_list(search=search, account_id=account_id), page)


@router.post("/contacts", response={201: ContactOut}, tags=["contacts"])
@may_conflict
def create_contact(request: HttpRequest, payload: ContactIn) -> Status:
    return Status(201, services.create_contact(**_contact_fields(payload, partial=False)))


@router.get("/contacts/{contact_id}", response=ContactOut, tags=["contacts"])
def get_contact(request: HttpRequest, contact_id: Id) -> Contact:
    return get_object_or_404(Contact, pk=contact_id)


@router.patch("/contacts/{contact_id}", response=ContactOut, tags=["contacts"])
@may_conflict
def update_contact(request: HttpRequest, contact_id: Id, payload: ContactIn) -> Contact:
    contact = get_object_or_404(Contact, pk=contact_id)
    return services.update_contact(contact, **_contact_fields(payload, partial=True))


@router.delete("/contacts/{contact_id}", response={204: None}, tags=["contacts"])
@may_conflict
def delete_contact(request: HttpRequest, contact_id: Id) -> Status:
    _ensure_can_delete(current_user(request))
    services.delete_contact(get_object_or_404(Contact, pk=contact_id))
    return Status(204, None)
