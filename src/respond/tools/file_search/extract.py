"""Text out of uploaded files: plain text, Markdown, HTML, PDF (pypdf), JSON and source code.

The kind is decided by the file name's extension, then by the bytes (a PDF header, valid UTF-8).
`UnsupportedFile` (-> last_error code `unsupported_file`) for what is not text; `InvalidFile`
(-> `invalid_file`) for a file of a supported kind that cannot be read or holds no text.
"""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import PurePath

TEXT_EXTENSIONS = {
    ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log", ".tex", ".xml", ".yaml", ".yml", ".toml", ".ini",
    ".cfg", ".py", ".pyi", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".c", ".h", ".cc", ".cpp", ".hpp",
    ".cs", ".go", ".rs", ".rb", ".php", ".sh", ".bash", ".sql", ".swift", ".kt", ".scala", ".lua", ".r", ".pl",
    ".css", ".scss", ".vue", ".dart", ".ex", ".exs", ".hs", ".ml", ".zig", ".jl", ".m", ".proto", ".graphql",
}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
BINARY_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ico", ".mp3", ".mp4", ".wav", ".zip", ".gz", ".tar",
    ".exe", ".dll", ".so", ".bin", ".class", ".jar", ".doc", ".xls", ".ppt", ".docx", ".xlsx", ".pptx",
}
SUPPORTED = sorted(TEXT_EXTENSIONS | HTML_EXTENSIONS | {".pdf", ".json", ".jsonl"})


class UnsupportedFile(ValueError):
    pass


class InvalidFile(ValueError):
    pass


class _HTMLText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section", "article",
             "table", "ul", "ol", "blockquote", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html(text: str) -> str:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InvalidFile(f"The PDF could not be read: {exc}") from None


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnsupportedFile("The file is binary, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFile("The file is not valid UTF-8 text.") from None


def extract_text(filename: str, data: bytes) -> str:
    ext = PurePath(filename).suffix.lower()
    if ext in BINARY_EXTENSIONS:
        raise UnsupportedFile(f"Files with extension '{ext}' are not supported for file search. "
                              f"Supported: {', '.join(SUPPORTED)}.")
    if ext == ".pdf" or data[:5] == b"%PDF-":
        text = _pdf(data)
    elif ext in HTML_EXTENSIONS:
        text = _html(_decode(data))
    elif ext == ".json":
        raw = _decode(data)
        try:
            text = json.dumps(json.loads(raw), indent=1, ensure_ascii=False)
        except ValueError:
            raise InvalidFile("The file is not valid JSON.") from None
    else:
        text = _decode(data)
    if not text.strip():
        raise InvalidFile("The file contains no text.")
    return text
