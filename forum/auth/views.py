"""Account views."""
