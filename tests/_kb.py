"""Helpers for the file_search tests: small documents of each kind, waiting for ingestion."""

from __future__ import annotations

import time
from typing import Any

MANUAL_MD = b"""# Kettle manual

The kettle boils one litre of water in three minutes. Press the red button to start it.

## Warranty

The warranty lasts for two years from the date of purchase. Keep the receipt.
"""

GARDEN_HTML = b"""<html><head><title>Garden</title><style>.x{color:red}</style><script>var hidden = 1;</script></head>
<body><h1>Tomatoes</h1><p>Water tomato plants deeply twice a week &amp; mulch the soil.</p></body></html>"""

PLANETS_JSON = b'{"planets": [{"name": "Mars", "moons": ["Phobos", "Deimos"]}, {"name": "Venus", "moons": []}]}'

CODE_PY = b'''def fibonacci(n):
    """Return the n-th Fibonacci number, iteratively."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
'''


def pdf_bytes(text: str) -> bytes:
    """A minimal one-page PDF whose page shows `text` (Helvetica), with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def wait_files(client: Any, store_id: str, timeout: float = 60) -> list[Any]:
    """All files of the store once none is in_progress."""
    deadline = time.monotonic() + timeout
    while True:
        files = list(client.vector_stores.files.list(vector_store_id=store_id, limit=100))
        if all(f.status != "in_progress" for f in files) or time.monotonic() > deadline:
            return files
        time.sleep(0.1)


def make_store(client: Any, docs: dict[str, tuple[bytes, dict[str, Any] | None]], **kw: Any) -> tuple[Any, dict[str, Any]]:
    """A vector store holding `docs` ({filename: (content, attributes)}), ingested; and {filename: file}."""
    store = client.vector_stores.create(name="kb", **kw)
    uploaded = {}
    for name, (content, attrs) in docs.items():
        f = client.files.create(file=(name, content), purpose="assistants")
        uploaded[name] = f
        client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id,
                                          **({"attributes": attrs} if attrs else {}))
    wait_files(client, store.id)
    return store, uploaded
