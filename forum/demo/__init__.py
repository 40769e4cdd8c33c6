"""Demo content written for this forum (original text), loaded on first start."""


def load_demo() -> None:
    """Import the demo threads. (Filled in with the demo content.)"""
