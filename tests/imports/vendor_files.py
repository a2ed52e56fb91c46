"""Export files as HubSpot, Salesforce and Pipedrive write them (columns and values from their documentation)."""

import csv
import zipfile
from pathlib import Path

HUBSPOT_CONTACTS = [
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Company Name",
    "Job Title", "Lifecycle Stage", "Lead Status", "Create Date", "Original Source", "Original Source Drill-Down 1",
    "Contact owner", "Country/Region", "Industry", "Number of Employees", "Associated Company ID",
]  # fmt: skip
HUBSPOT_COMPANIES = ["Record ID", "Company name", "Company Domain Name", "Industry", "Number of Employees",
                     "Country/Region", "Company owner", "Create Date"]  # fmt: skip
HUBSPOT_DEALS = ["Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date", "Create Date",
                 "Deal owner", "Associated Contact IDs", "Associated Company IDs"]  # fmt: skip
SALESFORCE_LEADS = [
    "Id", "FirstName", "LastName", "Email", "Company", "Title", "Phone", "MobilePhone", "Status", "LeadSource",
    "Rating", "Industry", "NumberOfEmployees", "Country", "CreatedDate", "IsConverted", "ConvertedContactId",
    "ConvertedAccountId", "ConvertedOpportunityId", "OwnerId",
]  # fmt: skip
SALESFORCE_CONTACTS = ["Id", "FirstName", "LastName", "Email", "Phone", "Title", "AccountId", "LeadSource",
                       "CreatedDate", "OwnerId"]  # fmt: skip
SALESFORCE_ACCOUNTS = ["Id", "Name", "Website", "Industry", "NumberOfEmployees", "BillingCountry", "OwnerId",
                       "CreatedDate"]  # fmt: skip
SALESFORCE_OPPORTUNITIES = ["Id", "Name", "AccountId", "StageName", "Amount", "CloseDate", "Probability", "IsWon",
                            "IsClosed", "OwnerId", "CreatedDate"]  # fmt: skip
SALESFORCE_USERS = ["Id", "Username", "Email", "FirstName", "LastName", "Name"]
SALESFORCE_LEAD_REPORT = ["First Name", "Last Name", "Title", "Company / Account", "Email", "Lead Status",
                          "Lead Source", "Rating", "Create Date", "Lead Owner"]  # fmt: skip
PIPEDRIVE_PERSONS = ["Person - ID", "Person - Name", "Person - Email", "Person - Phone", "Person - Organization",
                     "Person - Label", "Person - Owner", "Person - Person created"]  # fmt: skip
PIPEDRIVE_ORGANIZATIONS = ["Organization - ID", "Organization - Name", "Organization - Owner",
                           "Organization - Organization created"]  # fmt: skip
PIPEDRIVE_DEALS = ["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Currency", "Deal - Status", "Deal - Stage",
                   "Deal - Pipeline", "Deal - Organization", "Deal - Contact person", "Deal - Owner",
                   "Deal - Expected close date", "Deal - Won time", "Deal - Lost time", "Deal - Lost reason",
                   "Deal - Deal created"]  # fmt: skip


def write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    """A CSV with the header; each row gives some columns by name, the others blank."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for row in rows:
            assert set(row) <= set(header), set(row) - set(header)
            writer.writerow(row)
    return path


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as bundle:
        for path in sorted(folder.iterdir()):
            bundle.write(path, path.name)
    return target


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))
