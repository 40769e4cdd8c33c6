"""``links`` for a paged API answer: absolute URLs of the next and previous pages."""

from __future__ import annotations

from flask import request, url_for


def links(page: int, pages: int) -> dict[str, str | None]:
    """``{"next", "prev"}`` for this request's endpoint with its other arguments kept;
    ``None`` past either end. A page beyond the last points back to the last."""

    def at(number: int) -> str:
        args = {**request.args.to_dict(), **(request.view_args or {}), "page": number}
        return url_for(request.endpoint, _external=True, **args)

    return {
        "next": at(page + 1) if page < pages else None,
        "prev": at(min(page - 1, pages)) if page > 1 and pages else None,
    }
