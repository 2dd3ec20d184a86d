"""Loaders: .ts files, downloads (a local HTTP server on 127.0.0.1, never the network),
text folders, CSV series with dates — and every malformed variant as a one-line error."""

import contextlib
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from boucle.data.loaders import csv_windows, download, load_csv_series, load_text_folder, load_ts, load_uea, write_ts
from boucle.errors import BoucleError

FIX = Path(__file__).parent / "fixtures"


@contextlib.contextmanager
def one_line_error(match: str):
    """pytest.raises(BoucleError, match=...) that also checks the message is one line."""
    with pytest.raises(BoucleError, match=match) as info:
        yield info
    assert "\n" not in str(info.value), str(info.value)


# ----------------------------------------------------------------------------- .ts


def test_load_ts_fixture():
    d = load_ts(FIX / "tiny_TRAIN.ts")
    assert d.meta["problemname"] == "Tiny" and d.class_labels == ["up", "down", "flat"]
    assert [a.shape for a in d.x] == [(3, 2), (2, 2), (4, 2), (5, 2)]
    np.testing.assert_array_equal(d.x[0], [[1.0, 0.5], [2.0, 0.25], [3.0, 0.125]])
    assert np.isnan(d.x[1][1, 1]) and d.x[2][2, 1] == -3.5
    assert d.y.tolist() == ["up", "down", "flat", "up"] and d.label_ids().tolist() == [0, 1, 2, 0]
    x, mask = d.padded()
    assert x.shape == (4, 5, 2) and mask.sum(1).tolist() == [3, 2, 4, 5] and d.n_channels == 2


def test_load_ts_timestamps_and_regression():
    d = load_ts(FIX / "tiny_timestamps.ts")
    np.testing.assert_allclose(d.x[0][:, 0], [241.97, 241.75, 241.64])
    assert d.y.tolist() == ["1", "2"]
    r = load_ts(FIX / "tiny_regression.ts")
    assert r.y.dtype == np.float64 and r.y.tolist() == [0.5, -1.25] and r.class_labels is None
    with pytest.raises(BoucleError, match="expected class labels"):
        r.label_ids()


def test_write_ts_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, 3)) for n in (4, 7, 1)]
    xs[1][2, 0] = np.nan
    path = write_ts(tmp_path / "rt.ts", xs, ["b", "a", "b"], problem_name="RT", class_labels=["a", "b"])
    d = load_ts(path)
    for a, b in zip(xs, d.x):
        np.testing.assert_array_equal(a, b)  # repr() keeps every bit, ? comes back as NaN
    assert d.y.tolist() == ["b", "a", "b"] and d.class_labels == ["a", "b"] and d.meta["missing"] is True
    uni = load_ts(write_ts(tmp_path / "u.ts", [np.arange(3.0), np.arange(3.0)]))
    assert uni.y is None and uni.meta["equallength"] is True and uni.x[0].shape == (3, 1)


HEAD = "@problemName Bad\n@timeStamps false\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"


@pytest.mark.parametrize(
    "text, match",
    [
        (HEAD + "1,2:3,4:a\n1,x:3,4:b\n", r"bad\.ts:8: dimension 0: expected numbers, got 'x'"),
        (HEAD + "1,2:3,4:a\n1,2:3,4:5,6:b\n", r"bad\.ts:8: expected 2 dimensions \(@dimensions\), got 3"),
        (HEAD + "1,2:3,4:a\n1,2:3,4\n", r"bad\.ts:8: expected a label"),
        (HEAD + "1,2:3,4:c\n", r"bad\.ts:7: class label 'c' is not in @classLabel \['a', 'b'\]"),
        (HEAD + "1,2,3:3,4:a\n", r"bad\.ts:7: expected the dimensions of a case to have one length"),
        (HEAD.replace("@data\n", ""), r"bad\.ts: expected a @data line"),
        (HEAD, r"bad\.ts: expected at least one case"),
        ("@problemName X\nhello\n@data\n", r"bad\.ts:2: expected a @tag header line"),
        (HEAD.replace("@dimensions 2", "@dimensions two"), r"bad\.ts:4: @dimensions expects a positive int"),
        (HEAD.replace("@timeStamps false", "@timeStamps maybe"), r"bad\.ts:2: @timestamps expects true or false"),
        (HEAD.replace("@classLabel true a b", "@classLabel true"), r"bad\.ts:5: @classLabel true expects the class"),
        (
            "@univariate true\n@equalLength true\n@seriesLength 3\n@classLabel false\n@data\n1,2,3\n1,2\n",
            r"bad\.ts:7: expected @seriesLength 3 values, got 2",
        ),
        (
            "@univariate false\n@classLabel false\n@data\n1,2:3,4\n1,2\n",
            r"bad\.ts:5: expected 2 dimensions like the series above, got 1",
        ),
        ("@targetLabel true\n@univariate true\n@data\n1,2:x\n", r"bad\.ts:4: expected a numeric target"),
    ],
)
def test_malformed_ts_names_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.ts"
    path.write_text(text)
    with one_line_error(match):
        load_ts(path)


def test_load_ts_missing_file(tmp_path):
    with one_line_error("cannot read"):
        load_ts(tmp_path / "absent.ts")


# ----------------------------------------------------------------------------- downloads


class _Server:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 in a thread, counting requests."""

    def __init__(self, files: dict):
        self.files, self.hits = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                body = outer.files.get(self.path.split("?")[0].lstrip("/"))
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_download_checks_sha256_and_uses_the_cache(tmp_path):
    body = (FIX / "tiny_TRAIN.ts").read_bytes()
    with _Server({"tiny.ts": body}) as srv:
        p = download(srv.url + "tiny.ts", sha256=_sha(body), cache_dir=tmp_path / "cache")
        assert p.read_bytes() == body and p.parent == tmp_path / "cache"
        again = download(srv.url + "tiny.ts", sha256=_sha(body), cache_dir=tmp_path / "cache")
        assert again == p and len(srv.hits) == 1  # served from the cache
        p.write_bytes(b"corrupted")  # a damaged cache entry is fetched again
        assert download(srv.url + "tiny.ts", sha256=_sha(body), cache_dir=tmp_path / "cache").read_bytes() == body
        assert len(srv.hits) == 2
        assert sorted(x.name for x in (tmp_path / "cache").iterdir()) == ["tiny.ts"]  # no temporary left


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    with _Server({"f.bin": b"payload"}) as srv:
        with one_line_error(
            f"checksum mismatch for {srv.url}f.bin: expected sha256 {'0' * 64}, got {_sha(b'payload')}"
        ):
            download(srv.url + "f.bin", sha256="0" * 64, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_http_error_and_offline(tmp_path):
    with _Server({}) as srv:
        with one_line_error("answered HTTP 404"):
            download(srv.url + "missing.zip", cache_dir=tmp_path)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: like being offline
    with one_line_error(
        f"cannot reach http://127.0.0.1:{port}/x.zip .*offline\\? place the file at .*x.zip \\(sha256 {'a' * 64}\\)"
    ):
        download(f"http://127.0.0.1:{port}/x.zip", sha256="a" * 64, cache_dir=tmp_path, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_download_bad_arguments_and_unwritable_cache(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with one_line_error("cache_dir: cannot create"):
        download("http://127.0.0.1:9/f.ts", cache_dir=blocker / "sub")
    with one_line_error("cache_dir: expected a writable folder"):
        download("http://127.0.0.1:9/f.ts", cache_dir=blocker)
    with one_line_error("sha256: expected 64 hex digits"):
        download("http://127.0.0.1:9/f.ts", sha256="abc", cache_dir=tmp_path)
    with one_line_error("filename: expected a plain file name"):
        download("http://127.0.0.1:9/", cache_dir=tmp_path)


def test_load_uea_downloads_extracts_and_caches(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(FIX / "tiny_TRAIN.ts", "Tiny/Tiny_TRAIN.ts")
        z.writestr("Tiny/Tiny_TEST.ts", (FIX / "tiny_TRAIN.ts").read_text().replace("up\n", "down\n"))
    archive = buf.getvalue()
    with _Server({"Tiny.zip": archive}) as srv:
        train = load_uea("Tiny", "train", cache_dir=tmp_path, base_url=srv.url, sha256=_sha(archive))
        test = load_uea("Tiny", "test", cache_dir=tmp_path, base_url=srv.url, sha256=_sha(archive))
        assert len(srv.hits) == 1  # the zip is fetched once
        with one_line_error("checksum mismatch"):
            load_uea("Other", cache_dir=tmp_path, base_url=srv.url + "Tiny.zip?", sha256="1" * 64)
    assert train.label_ids().tolist() == [0, 1, 2, 0] and test.y.tolist() == ["down", "down", "flat", "down"]
    assert load_uea("Tiny", "test", cache_dir=tmp_path, base_url="http://127.0.0.1:9/").y[0] == "down"  # offline ok
    (tmp_path / "uea" / "Broken").mkdir(parents=True)
    (tmp_path / "uea" / "Broken" / "Broken.zip").write_bytes(b"not a zip")
    with one_line_error("Broken.zip: not a zip archive"):
        load_uea("Broken", cache_dir=tmp_path)
    with one_line_error("name: expected a problem name"):
        load_uea("../etc", cache_dir=tmp_path)
    with one_line_error("split: expected 'train' or 'test'"):
        load_uea("Tiny", "valid", cache_dir=tmp_path)


# ----------------------------------------------------------------------------- text folders


def test_load_text_folder():
    texts, labels, classes = load_text_folder(FIX / "texts")
    assert classes == ["neg", "pos"] and labels.tolist() == [0, 1, 1]
    assert texts[0].startswith("there is nothing to like") and texts[2].startswith("great acting")


def test_text_folder_errors(tmp_path):
    with one_line_error("not a folder"):
        load_text_folder(tmp_path / "absent")
    with one_line_error("expected label sub-folders"):
        load_text_folder(tmp_path)
    (tmp_path / "pos").mkdir()
    with one_line_error(r"pos: expected at least one \*.txt file for label 'pos'"):
        load_text_folder(tmp_path)
    (tmp_path / "pos" / "a.txt").write_text("fine")
    (tmp_path / "stray.txt").write_text("no label")
    with one_line_error(r"stray.txt: label missing"):
        load_text_folder(tmp_path)
    (tmp_path / "stray.txt").unlink()
    (tmp_path / "pos" / "b.txt").write_bytes(b"\xff\xfe\xfa")
    with one_line_error(r"b.txt: not utf-8 text"):
        load_text_folder(tmp_path)


# ----------------------------------------------------------------------------- CSV series


def test_load_csv_series_seed004_rows():
    s = load_csv_series(FIX / "daily.csv")
    assert s.dates[0] == np.datetime64("2015-10-02") and len(s.dates) == 8 and s.columns == ["value"]
    assert s.values[:3, 0].tolist() == [1500, 1205, 1820]
    np.testing.assert_array_equal(s.with_date_features()[0], [2, 10, 2015, 1500])
    x, y, dates = csv_windows(FIX / "daily.csv", window=3, horizon=2, date_features=True)
    assert x.shape == (4, 3, 4) and y.shape == (4, 2, 1)
    assert x[0, 0].tolist() == [2, 10, 2015, 1500] and y[0, :, 0].tolist() == [1900, 1610]
    assert dates[0] == np.datetime64("2015-10-05")


def test_csv_without_header_iso_dates_and_sorting(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("03,10,2015,2\n02,10,2015,1\n")
    s = load_csv_series(p)
    assert s.values[:, 0].tolist() == [1, 2] and str(s.dates[0]) == "2015-10-02"
    q = tmp_path / "iso.csv"
    q.write_text("date;a;b\n2020-02-28;1;10\n2020-02-29;2;20\n2020-03-01;3;30\n")
    t = load_csv_series(q, date_columns=("date",), delimiter=";")
    assert t.values.shape == (3, 2) and t.columns == ["a", "b"] and str(t.dates[-1]) == "2020-03-01"
    assert load_csv_series(q, date_columns=("date",), value_columns=["b"], delimiter=";").values[:, 0].tolist() == [
        10,
        20,
        30,
    ]


@pytest.mark.parametrize(
    "text, match",
    [
        ("day,month,year,value\n1,1,2020,5\n2,1,2020\n", r"bad\.csv:3: expected 4 fields, got 3"),
        ("day,month,year,value\n1,1,2020,5\n2,1,2020,abc\n", r"bad\.csv:3: expected a number in column 4, got 'abc'"),
        ("day,month,year,value\n1,1,2020,5\n2,1,2020,\n", r"bad\.csv:3: expected a number in column 4, got ''"),
        ("day,month,year,value\n31,2,2020,5\n", r"bad\.csv:2: not a valid date: day 31, month 2, year 2020"),
        ("day,month,year,value\n1,1,2020,5\n1,1,2020,6\n", r"bad\.csv:3: date 2020-01-01 appears twice"),
        (
            "day,month,value\n1,1,5\n",
            r"bad\.csv:1: expected date columns \['day', 'month', 'year'\] in the header, missing \['year'\]",
        ),
        ("day,month,year,value\nx,1,2020,5\n", r"bad\.csv:2: expected integer day, month, year"),
        ("day,month,year,value\n", r"bad\.csv: expected data rows after the header"),
        ("", r"bad\.csv: expected rows of dates and values"),
        ("1,1,2020\n", r"bad\.csv:1: expected 3 date fields and at least one value"),
        ("day,month,year,value\n1,1,2020,nan\n", r"bad\.csv:2: expected a number in column 4, got 'nan'"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with one_line_error(match):
        load_csv_series(path)


def test_csv_bad_arguments(tmp_path):
    with one_line_error("date_columns"):
        load_csv_series(FIX / "daily.csv", date_columns=("day", "month"))
    with one_line_error(r"expected value columns \['price'\]"):
        load_csv_series(FIX / "daily.csv", value_columns=["price"])
    with one_line_error("cannot read"):
        load_csv_series(tmp_path / "absent.csv")
