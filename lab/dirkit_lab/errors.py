"""The lab's one error: a service that could not be brought up or is not ready.

Not a dirkit error: dirkit knows nothing of the lab. ``dirkit-lab`` exits with ``EXIT_LAB``.
"""

from __future__ import annotations

EXIT_LAB = 9  # the local lab could not be brought up, or a service is not ready


class LabError(Exception):
    """The local lab could not be brought up, or a lab service is not ready."""

    exit_code = EXIT_LAB
