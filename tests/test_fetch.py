"""`swapbench data fetch` against a real HTTP server on 127.0.0.1 that serves files the tests build:
download, resume after a broken transfer, refused checksums and layouts, 404, refused connections,
--accept-unverified, --download, the NATS-Bench conversion, and the one-line errors with exit code 2."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import pickle
import re
import socket
import subprocess
import tarfile
import threading
import urllib.parse
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main

from swapbench.data import sources as src
from swapbench.data.benchmarks import load_truth
from swapbench.data.download import PlainProgress
from swapbench.data.fetch import FetchOptions, ensure, fetch, fetch_source, run_needs
from swapbench.data.images import load_images
from swapbench.data.inventory import sources_frame
from swapbench.data.nats import convert
from swapbench.errors import DataError
from swapbench.spaces import get_space

NB201 = get_space("nb201")
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


# --------------------------------------------------------------------------------------------
# test data


def cifar100_tarball(n: int = 40, seed: int = 0) -> bytes:
    """A small archive in the original CIFAR-100 python layout."""
    rng = np.random.default_rng(seed)

    def batch(rows: int) -> bytes:
        return pickle.dumps({b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
                             b"fine_labels": [int(v) for v in rng.integers(0, 100, rows)],
                             b"coarse_labels": [int(v) for v in rng.integers(0, 20, rows)],
                             b"filenames": [f"img{i}.png".encode() for i in range(rows)],
                             b"batch_label": b"test batch"})

    members = {"cifar-100-python/train": batch(n), "cifar-100-python/test": batch(10),
               "cifar-100-python/meta": pickle.dumps({b"fine_label_names": [b"c"] * 100})}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def nb201_arch(codes: tuple[int, ...]) -> str:
    a, b, c, d, e, f = (OPS[i] for i in codes)
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def nbsz_table(tasks=("cifar10", "cifar100", "ImageNet16-120"), n: int = 6) -> bytes:
    """A small table in NAS-Bench-Suite-Zero's NB201 layout (NASLib op-index keys)."""
    rng = np.random.default_rng(1)
    keys = [str(tuple(int(v) for v in rng.integers(0, 5, 6))) for _ in range(n)]
    table = {t: {k: {"val_accuracy": float(50 + i), "params": {"score": 0.1 * i, "time": 0.0}}
                 for i, k in enumerate(dict.fromkeys(keys))} for t in tasks}
    return json.dumps(table).encode()


# --------------------------------------------------------------------------------------------
# the server


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves server.files by name, with HTTP Range, and breaks off a transfer when told to."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        name = urllib.parse.unquote(self.path.lstrip("/"))
        srv.requests.append((name, self.headers.get("Range")))
        body = srv.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = srv.cut.pop(name, None)
        if cut is not None:  # send `cut` bytes, then drop the connection
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror():
    server = ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    server.files, server.requests, server.cut = {}, [], {}
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cifar100_md5(monkeypatch):
    """Make the test tarball's md5 the 'published' one."""
    data = cifar100_tarball()
    digest = hashlib.md5(data).hexdigest()
    source = src.SOURCES["cifar100"]
    monkeypatch.setitem(src.SOURCES, "cifar100", replace(source, items=(replace(source.items[0], md5=digest),)))
    return data


def options(server, **kw) -> FetchOptions:
    return FetchOptions(mirror=server.url, log=lambda s: None, backoff=0.0, timeout=10.0, **kw)


def leftovers(data_dir: Path) -> list[str]:
    """Everything in the data dir except the state folder's empty sub-folders."""
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# downloads


def test_download_verify_unpack(mirror, cifar100_md5, tmp_path):
    mirror.files["cifar-100-python.tar.gz"] = cifar100_md5
    done = fetch(["cifar100"], tmp_path, options(mirror))
    assert [d.action for d in done] == ["fetched"] and "matches the published" in done[0].verification
    images = load_images("cifar100", tmp_path)
    assert len(images) == 40 and images.images.shape[1:] == (3, 32, 32)
    assert leftovers(tmp_path) == [".swapbench/manifest.json", "cifar-100-python/meta", "cifar-100-python/test",
                                   "cifar-100-python/train"]
    state = src.source_state(tmp_path, "cifar100")
    assert state.state == "present"
    # present: a second fetch downloads nothing
    n = len(mirror.requests)
    assert [d.action for d in fetch(["cifar100"], tmp_path, options(mirror))] == ["skipped"]
    assert len(mirror.requests) == n


def test_resume_after_interrupted_transfer(mirror, cifar100_md5, tmp_path):
    name = "cifar-100-python.tar.gz"
    mirror.files[name] = cifar100_md5
    half = len(cifar100_md5) // 2
    mirror.cut[name] = half
    with pytest.raises(DataError, match="broke off.*re-run the same command to resume"):
        fetch(["cifar100"], tmp_path, options(mirror, retries=0))
    part = tmp_path / ".swapbench" / "downloads" / f"{name}.part"
    assert part.stat().st_size == half
    assert not (tmp_path / "cifar-100-python").exists()  # nothing that looks complete
    assert src.source_state(tmp_path, "cifar100").state == "missing"
    fetch(["cifar100"], tmp_path, options(mirror))
    assert mirror.requests[-1] == (name, f"bytes={half}-")  # resumed, not restarted
    assert len(load_images("cifar100", tmp_path)) == 40
    assert not part.exists()


def test_broken_transfer_is_retried_with_resume(mirror, cifar100_md5, tmp_path):
    name = "cifar-100-python.tar.gz"
    mirror.files[name] = cifar100_md5
    mirror.cut[name] = 1000
    fetch(["cifar100"], tmp_path, options(mirror, retries=2))
    assert mirror.requests == [(name, None), (name, "bytes=1000-")]
    assert src.source_state(tmp_path, "cifar100").state == "present"


def test_partial_file_from_a_server_without_ranges_is_restarted(cifar100_md5, tmp_path):
    """A server that ignores Range sends the whole file again: it must replace, not extend, the part."""
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    (mirror_dir / "cifar-100-python.tar.gz").write_bytes(cifar100_md5)
    url = mirror_dir.as_uri()
    downloads = tmp_path / "data" / ".swapbench" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "cifar-100-python.tar.gz.part").write_bytes(cifar100_md5[:500])
    (downloads / "cifar-100-python.tar.gz.part.url").write_text(f"{url}/cifar-100-python.tar.gz\n")
    fetch(["cifar100"], tmp_path / "data", FetchOptions(mirror=url, log=lambda s: None))
    assert src.source_state(tmp_path / "data", "cifar100").state == "present"


def test_wrong_checksum_is_refused_and_nothing_is_left(mirror, cifar100_md5, tmp_path):
    mirror.files["cifar-100-python.tar.gz"] = cifar100_tarball(seed=7)  # same layout, other bytes
    with pytest.raises(DataError, match="not the published .*--accept-unverified.*nothing was kept"):
        fetch(["cifar100"], tmp_path, options(mirror))
    assert leftovers(tmp_path) == []
    assert src.source_state(tmp_path, "cifar100").state == "missing"


def test_accept_unverified_keeps_a_mirror_copy_flagged(mirror, cifar100_md5, tmp_path):
    mirror.files["cifar-100-python.tar.gz"] = cifar100_tarball(seed=7)
    done = fetch(["cifar100"], tmp_path, options(mirror, accept_unverified=True))
    assert done[0].verification.startswith("unverified: md5")
    assert src.source_state(tmp_path, "cifar100").state == "unverified"
    frame = sources_frame(tmp_path).set_index("source")
    assert frame.loc["cifar100", "state"] == "unverified" and frame.loc["nbsz", "state"] == "missing"
    assert len(load_images("cifar100", tmp_path)) == 40
    # a run on it says so (notices go to stderr and run.json)
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run

    mirror.files["zc_nasbench201.json"] = nbsz_table()
    ensure(run_needs("nb201", "cifar100", None, ["swap"]), tmp_path, options(mirror))
    plan = plan_run(CorrelateConfig(space="nb201", task="cifar100", proxies=["swap"], n_archs=3, seeds=[0],
                                    batch_size=8, data_dir=str(tmp_path), out=str(tmp_path / "out")))
    assert any("cifar-100-python is an UNVERIFIED download" in n for n in plan.notices)


def test_http_404_and_refused_connection(mirror, tmp_path):
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz.*HTTP 404"):
        fetch(["cifar10"], tmp_path, options(mirror))
    assert leftovers(tmp_path) == []
    refused = FetchOptions(mirror=f"http://127.0.0.1:{closed_port()}", log=lambda s: None)
    with pytest.raises(DataError, match="connection refused"):
        fetch(["cifar10"], tmp_path, refused)
    assert leftovers(tmp_path) == []


def test_unsafe_archive_member_is_refused(mirror, monkeypatch, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-100-python/../../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = buf.getvalue()
    source = src.SOURCES["cifar100"]
    monkeypatch.setitem(src.SOURCES, "cifar100", replace(source, items=(
        replace(source.items[0], md5=hashlib.md5(data).hexdigest()),)))
    mirror.files["cifar-100-python.tar.gz"] = data
    with pytest.raises(DataError, match="leaves its folder"):
        fetch(["cifar100"], tmp_path / "data", options(mirror))
    assert not (tmp_path / "evil").exists() and leftovers(tmp_path / "data") == []


def test_nbsz_table_layout_is_checked(mirror, tmp_path):
    item = next(i for i in src.SOURCES["nbsz"].items if i.name == "zc_nasbench201.json")
    mirror.files[item.name] = nbsz_table(tasks=("cifar10", "cifar100"))  # no ImageNet16-120
    with pytest.raises(DataError, match="no task 'ImageNet16-120'.*nothing was kept"):
        fetch_source("nbsz", tmp_path, options(mirror), [item])
    assert leftovers(tmp_path) == []
    mirror.files[item.name] = nbsz_table()
    done = fetch_source("nbsz", tmp_path, options(mirror), [item])
    assert done[0].verification.startswith("layout checked")
    truth = load_truth(NB201, "cifar100", tmp_path)
    assert len(truth) > 0 and truth.accuracy.min() >= 50
    assert src.source_state(tmp_path, "nbsz").state == "partial"  # 1 of the 5 tables


def test_several_sources_report_every_failure(mirror, tmp_path):
    mirror.files["zc_nasbench201.json"] = nbsz_table()
    with pytest.raises(DataError) as info:
        fetch(["nbsz", "cifar10"], tmp_path, options(mirror))
    message = str(info.value)
    assert "\n" not in message and "nbsz (" in message and "cifar10 (" in message and "HTTP 404" in message


def test_download_fetches_only_what_the_run_needs(mirror, cifar100_md5, tmp_path):
    mirror.files["zc_nasbench201.json"] = nbsz_table()
    mirror.files["cifar-100-python.tar.gz"] = cifar100_md5
    needs = run_needs("nb201", "cifar100", None, ["swap"])
    assert [(name, item.name) for name, item in needs] == [("nbsz", "zc_nasbench201.json"),
                                                           ("cifar100", "cifar-100-python.tar.gz")]
    assert [(n, i.name) for n, i in run_needs("nb201", "cifar100", "nb201-12ep-val", ["params"])] == [
        ("nb201", "nb201_all_15625_12epoch.csv")]
    done = ensure(needs, tmp_path, options(mirror))
    assert sorted(d.target for d in done) == ["cifar-100-python", "nas-bench-suite-zero/zc_nasbench201.json"]
    n = len(mirror.requests)
    assert ensure(needs, tmp_path, options(mirror)) == [] and len(mirror.requests) == n


def test_plain_progress_lines():
    lines = []
    progress = PlainProgress(write=lines.append, every=0.0)
    progress.start("x.tar.gz", 2_000_000, 500_000)
    progress.advance(500_000)
    progress.finish()
    assert lines[0] == "x.tar.gz: 2.0 MB, resuming at 500.0 kB"
    assert re.match(r"x.tar.gz: 1.0 MB of 2.0 MB \(50%\), .*/s, ETA \d+s", lines[1])
    assert lines[-1].endswith("done")


# --------------------------------------------------------------------------------------------
# missing data: one line with the exact fetch command


def test_missing_data_names_the_fetch_command(tmp_path):
    def command(source: str) -> str:
        return re.escape(f"`swapbench data fetch {source} --data-dir {tmp_path}`")

    with pytest.raises(DataError, match="zc_nasbench201.json is missing; fetch it with " + command("nbsz")):
        load_truth(NB201, "cifar10", tmp_path)
    with pytest.raises(DataError, match=command("cifar100")):
        load_images("cifar100", tmp_path)
    with pytest.raises(DataError, match=command("nb201")):
        load_truth(NB201, "cifar10", tmp_path, "nb201-200ep-test")
    with pytest.raises(DataError, match=command("imagenet16")):
        load_images("imagenet16-120", tmp_path)


def test_states(tmp_path):
    assert set(sources_frame(tmp_path)["state"]) == {"missing"}
    (tmp_path / "ImageNet16-reconstructed").mkdir()
    assert src.source_state(tmp_path, "imagenet16").state == "substitute"
    (tmp_path / "ImageNet16").mkdir()
    (tmp_path / "ImageNet16" / "train_data_batch_1").write_bytes(b"")
    assert src.source_state(tmp_path, "imagenet16").state == "partial"


# --------------------------------------------------------------------------------------------
# nb201 from NATS-Bench


class FakeNATS:
    """The few NATS-Bench topology API calls the converter makes, with fast mode's per-arch loading."""

    def __init__(self):
        self.archs = [nb201_arch(c) for c in itertools.product(range(5), repeat=6)]
        self.arch2infos_dict: dict[int, dict] = {}
        self.most_held = 0

    def __len__(self) -> int:
        return len(self.archs)

    def __getitem__(self, index: int) -> str:
        return self.archs[index]

    def get_more_info(self, index, dataset, hp="12", is_random=True):
        assert is_random is False  # the mean over training seeds
        self.arch2infos_dict[index] = {}
        self.most_held = max(self.most_held, len(self.arch2infos_dict))
        base = {"cifar10": 1, "cifar10-valid": 2, "cifar100": 3, "ImageNet16-120": 4}[dataset] * 10
        acc = base + index / 1e5 + (0.5 if hp == "200" else 0.0)
        return {"test-accuracy": acc, "valid-accuracy": acc + 0.25}


def test_nats_conversion_streams_into_the_tables_the_tool_reads(tmp_path):
    api = FakeNATS()
    (tmp_path / "tmp").mkdir()
    parts = convert(api, tmp_path / "tmp", unique_str=lambda s: s[:5], log=lambda s: None)
    assert api.most_held == 1  # one architecture in memory at a time
    for target, part in parts.items():
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, tmp_path / target)
    test200 = load_truth(NB201, "cifar100", tmp_path, "nb201-200ep-test")
    assert len(test200) == 15625
    assert test200.archs[7] == NB201.parse(api.archs[7])
    assert test200.accuracy[7] == pytest.approx(30.5 + 7e-5)
    val12 = load_truth(NB201, "ImageNet16-120", tmp_path, "nb201-12ep-val")
    assert val12.accuracy[123] == pytest.approx(40.25 + 123e-5)
    c10val = load_truth(NB201, "cifar10", tmp_path, "nb201-12ep-val")
    assert c10val.accuracy[0] == pytest.approx(20.25)  # cifar10-valid's validation accuracy
    assert src.source_state(tmp_path, "nb201").state == "present"


def test_nb201_without_nats_or_mirror_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(src.MIRROR_ENV, raising=False)
    with pytest.raises(DataError, match="NATS-tss-v1_0-3ffb9-simple.*--nats PATH"):
        fetch(["nb201"], tmp_path / "data", FetchOptions(log=lambda s: None))


# --------------------------------------------------------------------------------------------
# the CLI: exit codes and --download


def swapbench(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`swapbench ARGS` in this process, with $SWAPBENCH_DATA and $SWAPBENCH_MIRROR unset unless given."""
    return run_main(list(args), {"SWAPBENCH_DATA": None, src.MIRROR_ENV: None, **env})


def test_cli_errors_exit_2_in_one_line(mirror, tmp_path):
    mirror.files["cifar-10-python.tar.gz"] = b"not the published archive"
    cases = [(["cifar100", "--mirror", mirror.url], "HTTP 404"),
             (["cifar10", "--mirror", mirror.url], "not the published c58f30108f718f92721af3b95e74349a"),
             (["cifar10", "--mirror", f"http://127.0.0.1:{closed_port()}"], "connection refused"),
             (["mnist"], "unknown data source 'mnist'")]
    for args, needle in cases:
        proc = swapbench("data", "fetch", *args, "--data-dir", str(tmp_path))
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        # progress lines of a finished transfer (not a terminal: plain lines), then one error line
        assert proc.returncode == 2 and lines[-1].startswith("error: "), proc.stderr
        assert all(line.startswith("cifar-10-python.tar.gz: ") for line in lines[:-1]), proc.stderr
        assert needle in lines[-1] and "Traceback" not in proc.stderr
    assert leftovers(tmp_path) == []


def test_cli_fetch_then_status(mirror, tmp_path):
    """Without the `cifar100_md5` fixture the published md5 holds, so the test tarball is only accepted as
    unverified."""
    mirror.files["cifar-100-python.tar.gz"] = cifar100_tarball()
    proc = swapbench("data", "fetch", "cifar100", "--data-dir", str(tmp_path), "--accept-unverified",
                     SWAPBENCH_MIRROR=mirror.url)
    assert proc.returncode == 0, proc.stderr
    assert "cifar-100-python: fetched from" in proc.stdout and "unverified: md5" in proc.stdout
    # plain progress lines, as stderr is not a terminal
    assert re.search(r"cifar-100-python.tar.gz: [\d.]+ kB of [\d.]+ kB \(100%\).* done", proc.stderr)
    proc = swapbench("data", "status", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") > 3}
    assert "unverified" in rows["cifar100"] and "missing" in rows["nbsz"]
    assert "swapbench data fetch nbsz" in rows["nbsz"]


def test_correlate_download(mirror, tmp_path):
    mirror.files["zc_nasbench201.json"] = nbsz_table(n=8)
    data = tmp_path / "data"
    args = ["correlate", "--space", "nb201", "--task", "cifar10", "--proxies", "params", "--n-archs", "5",
            "--seeds", "0", "--threads", "1", "--data-dir", str(data), "--out", str(tmp_path / "out")]
    proc = swapbench(*args)
    assert proc.returncode == 2 and f"swapbench data fetch nbsz --data-dir {data}" in proc.stderr
    proc = swapbench(*args, "--download", SWAPBENCH_MIRROR=mirror.url)
    assert proc.returncode == 0, proc.stderr
    assert (data / "nas-bench-suite-zero" / "zc_nasbench201.json").is_file()
    assert "params" in proc.stdout and (tmp_path / "out" / "summary.csv").is_file()
    assert mirror.requests == [("zc_nasbench201.json", None)]  # only what the run reads


def test_study_download(mirror, tmp_path):
    mirror.files["zc_nasbench201.json"] = nbsz_table(n=8)
    config = tmp_path / "tiny.toml"
    config.write_text('name = "tiny"\nproxies = ["params"]\nseeds = [0]\nn_archs = 4\n\n'
                      '[[columns]]\nspace = "nb201"\ntask = "cifar10"\n')
    data = tmp_path / "data"
    proc = swapbench("study", str(config), "--download", "--data-dir", str(data), "--out", str(tmp_path / "out"),
                     "--cache", str(tmp_path / "cache.sqlite"), "--threads", "1", SWAPBENCH_MIRROR=mirror.url)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "summary.csv").is_file()
    assert mirror.requests == [("zc_nasbench201.json", None)]


def test_read_only_data_dir_is_one_clear_error(mirror, tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits: a path under a regular file cannot be created by anyone
        blocked = tmp_path / "file"
        blocked.write_text("")
        data = blocked / "data"
    else:
        data = tmp_path / "ro"
        data.mkdir()
        data.chmod(0o500)
    with pytest.raises(DataError, match="cannot write to the data dir .*--data-dir DIR"):
        fetch(["cifar10"], data, options(mirror))


def test_present_sources_need_no_write_access(mirror, tmp_path, monkeypatch):
    import swapbench.data.fetch as fetch_module

    mirror.files["zc_nasbench201.json"] = nbsz_table()
    item = next(i for i in src.SOURCES["nbsz"].items if i.name == "zc_nasbench201.json")
    fetch_source("nbsz", tmp_path, options(mirror), [item])
    for other in src.SOURCES["nbsz"].items:
        (tmp_path / other.target).write_bytes((tmp_path / item.target).read_bytes())

    def read_only(data_dir):
        raise DataError("read-only")

    monkeypatch.setattr(fetch_module, "writable", read_only)
    n = len(mirror.requests)
    assert [d.action for d in fetch(["nbsz"], tmp_path, options(mirror))] == ["skipped"] * 5
    assert len(mirror.requests) == n
