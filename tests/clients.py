"""Test clients for the web pages: a signed-in browser session, and the header htmx sends."""

from django.test import Client

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user) -> Client:
    """A client with `user` logged in."""
    client = Client()
    client.force_login(user)
    return client
