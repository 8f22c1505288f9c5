"""Locations under the Brain root and the filesystem that reaches them (file:// or s3://)."""

from __future__ import annotations

from typing import Any

import fsspec

__all__ = ["filesystem", "is_local", "join_uri", "strip_scheme"]


def join_uri(root: str, *parts: str) -> str:
    """Join path segments onto a URI without touching its scheme."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def strip_scheme(uri: str) -> str:
    """Return the path part of ``uri`` as fsspec wants it (``/abs/path`` or ``bucket/key``)."""
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if "://" in uri:
        return uri.split("://", 1)[1]
    return uri


def is_local(uri: str) -> bool:
    """Return True when ``uri`` names the local filesystem of one machine (``file://`` or a bare path)."""
    return uri.startswith("file://") or "://" not in uri


def filesystem(root: str, storage_options: dict[str, str], *, auto_mkdir: bool = True) -> fsspec.AbstractFileSystem:
    """Return an fsspec filesystem for ``root`` configured from deltalake-style storage options.

    A local one makes a file's folders on every open unless ``auto_mkdir`` is False (the caller then
    makes them once, with ``makedirs``; an object store has none to make).
    """
    if is_local(root):
        return fsspec.filesystem("file", auto_mkdir=auto_mkdir)
    kwargs: dict[str, Any] = {"use_listings_cache": False, "client_kwargs": {}}
    if "AWS_ENDPOINT_URL" in storage_options:
        kwargs["endpoint_url"] = storage_options["AWS_ENDPOINT_URL"]
    if "AWS_REGION" in storage_options:
        kwargs["client_kwargs"]["region_name"] = storage_options["AWS_REGION"]
    if "AWS_ACCESS_KEY_ID" in storage_options:
        kwargs["key"] = storage_options["AWS_ACCESS_KEY_ID"]
        kwargs["secret"] = storage_options.get("AWS_SECRET_ACCESS_KEY")
    return fsspec.filesystem("s3", skip_instance_cache=True, **kwargs)
