"""The ceiling: a bare Flask "hello world", served by bench/ceiling.py like the forum."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
