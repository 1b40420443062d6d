"""The admin panel, where programme staff and MLIT reviewers work."""

from . import calls, cities, deliverables, desk, facilities, outbox, projects, proposals, reviews  # noqa: F401  (registers)
