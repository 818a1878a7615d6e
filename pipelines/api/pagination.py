"""Every list answers ``{"count", "next", "previous", "results"}``, paged by ``limit`` and ``offset``."""
from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    max_limit = 500  # a page never asks the database for more rows than this
