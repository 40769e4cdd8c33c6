"""Health-safety and privacy helpers that read text: warning signs and personal details.

Pure functions, no database: the views call them on previews, submitted posts, rendered
threads and search queries, and show a calm banner or a non-blocking notice.
"""

from .personal_details import Finding, find_personal_details, personal_details_notice
from .warning_signs import WARNING_SIGNS, find_in_query, find_warning_signs, has_warning_signs

__all__ = [
    "WARNING_SIGNS",
    "Finding",
    "find_in_query",
    "find_personal_details",
    "find_warning_signs",
    "has_warning_signs",
    "personal_details_notice",
]
