"""One botocore data loader per search path for the whole process, not one per botocore session.

Every new botocore session (boto3.Session(), boto3's default session that moto's `mock_aws()` resets, the twin's
clients and handlers) got a loader of its own and parsed the service models again (sagemaker's alone is megabytes
of JSON): test_approver.py and the trigger tests (then one file) took 68 s instead of 24 s, and the twin's process
2.2-2.6 s of CPU more per `--scenario all`. A loader only reads botocore's packaged data, and within one botocore
session its results are already shared by every client, so sharing it between sessions changes no model a client
sees. Used by tests/infra/conftest.py and twin/system.py.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


def share_botocore_loaders() -> None:
    if getattr(botocore.session.create_loader, "shared", False):
        return
    create_loader = botocore.loaders.create_loader

    @functools.cache
    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return create_loader(search_path_string)

    shared_loader.shared = True  # type: ignore[attr-defined]
    # botocore.session binds the name at import: patch it where the sessions look it up.
    botocore.session.create_loader = shared_loader  # type: ignore[assignment]
