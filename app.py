"""Entry point for `flask`, `python app.py` and gunicorn (`gunicorn app:app`)."""

import os

from forum import create_app, settle

app = create_app()

if __name__ == "__main__":
    settle()
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
