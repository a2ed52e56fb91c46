"""The web app's views: thin shells that parse a request, call a service or selector, and render."""
