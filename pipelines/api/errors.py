"""One error shape for the API: DRF's field errors for 400s, ``{"detail": ...}`` otherwise.

Anything the views did not expect that is still the client's fault (a malformed JSON body, a
spec that fails validation deep inside a service) becomes a 400, never a 500; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 (Django alone would answer an HTML page).
"""
from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..services import SpecInvalid


def exception_handler(exc, context):
    if isinstance(exc, SpecInvalid):
        return Response({"spec": [p.as_dict() for p in exc.problems]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is larger than the server accepts."},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


class Conflict(APIException):
    """The request is fine but the thing is in a state that refuses it (a finished run)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"
