"""The owner's local page and the JSON API."""
