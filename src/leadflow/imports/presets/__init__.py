"""The products whose exports `leadflow import --preset NAME` reads, by preset name."""

from .base import Vendor
from .hubspot import HUBSPOT
from .pipedrive import PIPEDRIVE
from .salesforce import SALESFORCE

VENDORS: dict[str, Vendor] = {vendor.name: vendor for vendor in (HUBSPOT, SALESFORCE, PIPEDRIVE)}
