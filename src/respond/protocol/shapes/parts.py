"""Content parts and annotations, as the wire carries them (the `openai` SDK's types are the reference).

Each is a `TypedDict`: the engine builds plain dicts that mypy checks against these shapes, and
they are serialized once, at the edge (orjson).  bench/typed_shapes.py measured the alternatives.
A `NotRequired` key is one Respond leaves out when it has no value (the SDK's `Optional[...] = None`).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from respond.protocol.shapes.values import JSONObject


class TopLogprob(TypedDict):
    token: str
    logprob: float
    bytes: NotRequired[list[int]]


class Logprob(TypedDict):
    token: str
    logprob: float
    bytes: NotRequired[list[int]]
    top_logprobs: NotRequired[list[TopLogprob]]


class FileCitation(TypedDict):
    type: Literal["file_citation"]
    file_id: str
    filename: str
    index: int


class URLCitation(TypedDict):
    type: Literal["url_citation"]
    url: str
    title: str
    start_index: int
    end_index: int


class ContainerFileCitation(TypedDict):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    filename: str
    start_index: int
    end_index: int


class FilePath(TypedDict):
    type: Literal["file_path"]
    file_id: str
    index: int


Annotation = FileCitation | URLCitation | ContainerFileCitation | FilePath


class OutputTextPart(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[Annotation]
    logprobs: NotRequired[list[Logprob]]  # only with include message.output_text.logprobs


class RefusalPart(TypedDict):
    type: Literal["refusal"]
    refusal: str


class InputTextPart(TypedDict):
    type: Literal["input_text"]
    text: str


class InputImagePart(TypedDict):
    type: Literal["input_image"]
    detail: str  # low | high | auto | original
    image_url: NotRequired[str | None]  # hidden unless include message.input_image.image_url
    file_id: NotRequired[str | None]


class InputFilePart(TypedDict):
    type: Literal["input_file"]
    file_id: NotRequired[str | None]
    file_url: NotRequired[str | None]
    file_data: NotRequired[str | None]
    filename: NotRequired[str | None]
    detail: NotRequired[str]


class InputAudioPart(TypedDict):
    type: Literal["input_audio"]
    input_audio: JSONObject  # {data, format}


class ReasoningTextPart(TypedDict):
    type: Literal["reasoning_text"]
    text: str


class SummaryTextPart(TypedDict):
    type: Literal["summary_text"]
    text: str


OutputPart = OutputTextPart | RefusalPart
"""A part of an assistant message the model wrote."""
InputPart = InputTextPart | InputImagePart | InputFilePart | InputAudioPart
"""A part of a message the client sent (and of a tool output given as parts)."""
MessagePart = InputPart | OutputPart
StreamedPart = OutputTextPart | RefusalPart | ReasoningTextPart
"""What `response.content_part.added/done` carry."""
