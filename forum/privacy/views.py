"""Download my data; delete my account. Both need the person signed in; deletion also
needs their password again."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from ..downloads import attachment
from ..services import ValidationError
from . import bp, service


@bp.get("/account/data")
@login_required
def download():
    """Everything the person wrote and recorded, as a JSON attachment (read-only GET)."""
    data = service.collect(current_user._get_current_object())
    body = json.dumps(data, ensure_ascii=False, indent=2)
    name = "-".join(current_user.name_key.split())
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": attachment(f"aza-forum-{name}-data.json", "aza-forum-data.json"),
            "Cache-Control": "no-store",
        },
    )


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account():
    errors: dict[str, str] = {}
    if request.method == "POST":
        if request.form.get("confirm") != "yes":
            errors["confirm"] = "Tick the box to confirm that you want to delete your account."
        else:
            try:
                service.delete_account(
                    current_user._get_current_object(),
                    request.form.get("password", ""),
                    request.form.get("mode", ""),
                )
            except ValidationError as exc:
                errors = exc.errors or {"password": exc.message}
            else:
                logout_user()
                flash("Your account has been deleted. Thank you for being part of this.", "success")
                return redirect(url_for("threads.index"))
    return render_template(
        "privacy/delete.html", errors=errors, mode=request.form.get("mode", "")
    ), (400 if errors else 200)
