"""The one API client and the few ways Trellis reads the answers it gets through it.

Every call asks for the raw response (``_preload_content=False``) and reads its JSON here: the
client's model classes cost more than the call itself, and the connection goes straight back to
the pool.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from kubernetes import client
from kubernetes.client import ApiException


def build_api_client(*, host: str = "", kubeconfig: str = "", context: str = "", is_in_cluster: bool = False,
                     verify_ssl: bool = True) -> client.ApiClient:
    """The one API client, configured explicitly (the client library reads KUBECONFIG only once,
    at import, so nothing is left to its globals)."""
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    if host:
        configuration.host = host
        configuration.verify_ssl = verify_ssl
    elif kubeconfig:
        kube_config.load_kube_config(config_file=kubeconfig, context=context or None,
                                     client_configuration=configuration)
    elif is_in_cluster:
        kube_config.load_incluster_config(client_configuration=configuration)
    else:
        raise ValueError("TRELLIS_EXECUTOR=kubernetes needs TRELLIS_K8S_API_HOST, TRELLIS_K8S_KUBECONFIG "
                         "or to run inside a cluster")
    return client.ApiClient(configuration)


def body_of(response) -> Any:
    """The JSON body of a raw (not preloaded) response; the connection goes back to the pool."""
    try:
        data = response.data
    finally:
        response.release_conn()
    return json.loads(data) if data else None


def create(call: Callable[[], Any]) -> None:
    """Create something; "already exists" (409) counts as done."""
    try:
        body_of(call())
    except ApiException as exc:
        if exc.status != 409:
            raise


def delete(call: Callable[[], Any]) -> bool:
    """Delete something; already gone (404) counts as done. True if this call deleted it."""
    try:
        body_of(call())
    except ApiException as exc:
        if exc.status != 404:
            raise
        return False
    return True
