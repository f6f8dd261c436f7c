"""The open JSON values of the wire shapes: `JSON` and `JSONObject`, defined in protocol/jsonvalue.py
(outside this package, so that protocol/params.py's pydantic models can use them without importing
the shapes, which import params)."""

from respond.protocol.jsonvalue import JSON, JSONObject

__all__ = ["JSON", "JSONObject"]
