"""The web app's pages, found from the route table of docs/permissions.md (itself checked against the URL
configuration), with the first row of each kind the user may see filling the addresses."""

import re

from leadflow.accounts.models import Account, Contact
from leadflow.imports.models import ImportJob
from leadflow.leads.selectors import leads_visible_to
from leadflow.nurture.models import EmailTemplate, Segment, Sequence
from leadflow.pipeline.selectors import opportunities_visible_to
from leadflow.qualification.models import AssignmentRule

from .permissions.policy import ROUTES


def page_addresses(user) -> list[str]:
    """Every GET route of the web app (not the API, not the email recipients' endpoints, not CSV files), its
    parameters filled; routes that need a row the database does not have are left out."""
    first = {
        "lead_id": leads_visible_to(user).order_by("pk").first(),
        "opportunity_id": opportunities_visible_to(user).order_by("pk").first(),
        "account_id": Account.objects.order_by("pk").first(),
        "contact_id": Contact.objects.order_by("pk").first(),
        "sequence_id": Sequence.objects.order_by("pk").first(),
        "segment_id": Segment.objects.order_by("pk").first(),
        "template_id": EmailTemplate.objects.order_by("pk").first(),
        "rule_id": AssignmentRule.objects.order_by("pk").first(),
        "job_id": ImportJob.objects.filter(created_by=user).order_by("pk").first(),
    }
    addresses = []
    for method, path in ROUTES:
        if method != "GET" or path.startswith(("/api/", "/e/")) or path.endswith(".csv"):
            continue
        names = re.findall(r"<(?:\w+:)?(\w+)>", path)
        if all(first.get(name) is not None for name in names):
            addresses.append(re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(first[m.group(1)].pk), path))
    return addresses
