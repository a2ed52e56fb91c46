"""What the leads app tells the apps that build on it (qualification, nurture) without importing them."""

from django.dispatch import Signal

# Sent inside the transition's transaction with `lead` and `change` (the new StageChange row).
lifecycle_changed = Signal()

# Sent before a person moves a lead into a stage (by hand, or by converting it) with `lead`, `to` and `context`
# (the conversion's pipeline, say); each receiver returns what the lead still lacks, as sentences.
stage_entry_requested = Signal()

# Sent inside the merge's transaction with `survivor` and `duplicate` once the duplicate's rows have moved over.
leads_merged = Signal()
