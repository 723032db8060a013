"""What every new botocore client rebuilds although it is the same for every client of the same service model,
computed once per test session instead. The suite creates about 1,300 clients (each moto reset makes a new boto3
default session, each World, registry and fixture its own clients): their creation was 8 of the infra
pytest process's 54 s of CPU. Used by tests/infra/conftest.py. Nothing here changes what a client sends, what moto
or a Stubber answers, or which hooks a client has: each client still gets its own class, its own event emitter
and its own handlers.

- The service model: each client wrapped the (shared) model description in a new `ServiceModel`, whose
  operation models, shapes and endpoint-discovery lookup it then built again: 1 s for the lookup alone. A
  `ServiceModel` is read-only once built (its caches only fill), so clients of the same description share one.
- The API methods: botocore generates one function and one lazy docstring per operation for every client
  (`ClientCreator._create_methods`; sagemaker has ~400 operations): 2.3 s. They depend on the service model only,
  and with tests/infra's shared botocore loaders (twin/botocore_loaders.py) every session loads the same model
  object. Each client class still gets a fresh attribute dict, and the `creating-client-class` handlers of its
  own session still run on it.
- Event-name aliasing: each client's event emitter starts an empty cache of its event names' aliases and
  recomputes them on the first emit of each name: 2.5 s. The alias of a name is a pure function of the name
  and the alias table, so clients with the same table share one cache.
- Whether a handler takes **kwargs: botocore inspects each handler's signature on every registration, and
  every new session (each mock_aws start) registers its ~170 built-in handlers again: 1 s. A function's
  signature does not change, so the answer is kept per function (weakly: closures made in a test go with it).
- The TLS context of each client's connection pool (OpenSSL's context creation: 0.7 s). No request of this
  suite opens a connection (moto or a Stubber answers before botocore sends; conftest.py's synth refuses
  sockets), and every client asks for the same default context, so one is made and shared.
"""

from __future__ import annotations

import functools
import types
import weakref
from typing import Any

from botocore import hooks, httpsession
from botocore.client import ClientCreator
from botocore.model import ServiceModel

_MODELS: dict[tuple[str, int], tuple[Any, ServiceModel]] = {}  # (name, id(description)) -> (description, model)
_METHODS_BY_MODEL: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(model description) -> (description, methods)
_ALIAS_CACHES: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}  # alias table -> name -> aliased name


def reuse_client_parts() -> None:
    if getattr(ClientCreator._create_methods, "reused", False):
        return
    load_service_model = ClientCreator._load_service_model

    @functools.wraps(load_service_model)
    def shared_service_model(creator: ClientCreator, service_name: str, api_version: str | None = None) -> Any:
        description = creator._loader.load_service_model(service_name, "service-2", api_version=api_version)
        cached = _MODELS.get((service_name, id(description)))
        if cached is None or cached[0] is not description:  # kept in the cache: its id is not reused meanwhile
            cached = _MODELS[(service_name, id(description))] = (description, ServiceModel(description, service_name))
        return cached[1]

    ClientCreator._load_service_model = shared_service_model  # type: ignore[method-assign]

    create_methods = ClientCreator._create_methods

    @functools.wraps(create_methods)
    def reused_methods(creator: ClientCreator, service_model: Any) -> dict[str, Any]:
        description = service_model._service_description
        cached = _METHODS_BY_MODEL.get(id(description))
        # The description is kept in the cache, so its id cannot be reused by another model while it is there.
        if cached is None or cached[0] is not description:
            cached = _METHODS_BY_MODEL[id(description)] = (description, create_methods(creator, service_model))
        return dict(cached[1])  # the class's own dict: `creating-client-class` handlers add to it

    reused_methods.reused = True  # type: ignore[attr-defined]
    ClientCreator._create_methods = reused_methods  # type: ignore[method-assign]

    shared_ssl_context = functools.cache(httpsession.create_urllib3_context)
    httpsession.URLLib3Session._get_ssl_context = lambda _session: shared_ssl_context()  # type: ignore[method-assign]

    accepts_kwargs = hooks.accepts_kwargs
    known: weakref.WeakKeyDictionary[types.FunctionType, bool] = weakref.WeakKeyDictionary()

    def remembered_accepts_kwargs(handler: Any) -> bool:
        function = handler.__func__ if isinstance(handler, types.MethodType) else handler
        if not isinstance(function, types.FunctionType):
            return accepts_kwargs(handler)
        if function not in known:
            known[function] = bool(accepts_kwargs(handler))
        return known[function]

    hooks.accepts_kwargs = remembered_accepts_kwargs

    aliaser_init = hooks.EventAliaser.__init__

    @functools.wraps(aliaser_init)
    def shared_alias_cache(aliaser: hooks.EventAliaser, *args: Any, **kwargs: Any) -> None:
        aliaser_init(aliaser, *args, **kwargs)
        table = tuple(aliaser._event_aliases.items())
        aliaser._alias_name_cache = _ALIAS_CACHES.setdefault(table, {})

    hooks.EventAliaser.__init__ = shared_alias_cache  # type: ignore[method-assign]
