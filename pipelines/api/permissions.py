"""Who may do what: members read (every query is scoped to their teams), editors write."""
from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .. import selectors


def team_id_of(obj) -> int:
    """The team a pipeline, run or version belongs to; a team is its own."""
    if obj._meta.label == "scheduling.Team":
        return obj.pk
    if hasattr(obj, "team_id"):
        return obj.team_id
    return team_id_of(obj.pipeline)


class CanWriteTeam(BasePermission):
    """Reading needs membership, which the scoped querysets already ensure; writing needs the
    editor role (or admin) in the object's team. Views call ``check_object_permissions``."""

    message = "You need the editor role in this team to do that."

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return selectors.has_role(request.user, team_id_of(obj), "editor")
