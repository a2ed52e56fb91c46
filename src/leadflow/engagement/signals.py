"""What engagement tells the apps that build on it (scoring, nurture) without importing them."""

from django.dispatch import Signal

# Sent inside the ingesting transaction with `events`: the new Event rows (with their leads), in any order.
events_ingested = Signal()
