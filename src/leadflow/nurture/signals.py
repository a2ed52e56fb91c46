"""What nurture tells the apps that build on it without importing them."""

from django.dispatch import Signal

# Sent when a recipient follows a tracked link in an email, with `delivery` and `target` (the address the email
# named). A receiver may return another address to send the reader to instead (the same page carrying the reader's
# identity to a tracked site, say); the first one returned wins.
link_followed = Signal()
