"""JSON API views."""
