"""Stage "parse and validate" of a create (and of input_tokens and compact, which parse the same body).

The body is parsed by protocol (`parse_create` and friends); what is checked here needs more than one
field or the server's state: combinations the API refuses, the default model, and which model an
alias names for this key (a stored key sees only the models it may use).
"""

from __future__ import annotations

from respond.engine.assemble import compaction
from respond.engine.execution.router import ModelRouter
from respond.engine.tenants.tenancy import Tenancy
from respond.protocol.errors import invalid
from respond.protocol.requests import CreateResponse


def check(req: CreateResponse, default_model: str | None) -> str:
    """The model asked for (the default one when the request names none), once the fields agree."""
    if req.background and req.store is False:
        raise invalid("Background mode requires 'store' to be true.", "background", "invalid_value")
    if req.previous_response_id and req.conversation:
        raise invalid("'previous_response_id' cannot be used together with 'conversation'.",
                      "previous_response_id", "invalid_value")
    if req.stream_options is not None and not req.stream:
        raise invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options",
                      "invalid_value")
    compaction.threshold(req.context_management)  # a bad entry is a 400 before anything runs
    model = req.model or default_model
    if not model:
        raise invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    return model


async def model_for(req: CreateResponse, owner: str, router: ModelRouter, tenancy: Tenancy | None) -> str:
    """The model that serves the request (an alias resolved).  A stored key that may use neither the
    name nor the model it names gets the answer for a model not served at all: a 404 naming only
    models it may use, so a key learns nothing of the others."""
    requested = check(req, router.default_model)
    allowed = await tenancy.model_filter(owner) if tenancy is not None else None
    if allowed is None:
        return await router.route(requested)

    def visible(name: str) -> bool:
        return allowed(name) or allowed(router.canonical(name))

    if not visible(requested):
        raise router.unknown(requested, visible)
    return await router.route(requested, visible)
