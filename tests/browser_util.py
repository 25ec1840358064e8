"""Headless Chromium driven over the DevTools protocol (for the ``browser`` tests).

Only the standard library and the small ``websocket-client`` package are used: Chromium is
started with ``--remote-debugging-port=0``, the port is read from ``DevToolsActivePort`` in
its profile folder, and one page target is driven with JSON commands. Every console message,
uncaught exception, log entry and network request the page makes is recorded.

A static folder is served over ``http://127.0.0.1`` by :class:`StaticServer` (http.server in a
thread), so the page runs from a real origin and loads nothing from anywhere else.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

#: Names of the Chromium executable tried in order (Debian installs ``chromium``).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Seconds allowed for Chromium to start, a page to load, or one command to answer.
TIMEOUT_S = 30.0


def find_chromium() -> str:
    """Path of a Chromium executable, or fail (CI) / skip (locally) with a clear reason.

    ``GEODEMAND_CHROMIUM`` overrides the search. When the ``CI`` environment variable is set
    a missing browser or a missing ``websocket-client`` is a failure, never a skip.
    """
    override = os.environ.get("GEODEMAND_CHROMIUM")
    path = override or next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)
    reason = None
    if path is None:
        reason = "headless chromium not found (apt-get install chromium chromium-driver)"
    else:
        try:
            import websocket  # noqa: F401
        except ImportError:
            reason = "the websocket-client package is not installed (pip install websocket-client)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class StaticServer:
    """Serve ``folder`` on ``http://127.0.0.1:<free port>/`` from a background thread."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class Browser:
    """One headless Chromium process with one page, driven over the DevTools protocol.

    Attributes
    ----------
    console_errors : list of str
        Console ``error``/``assert`` calls, uncaught exceptions and log entries of level
        ``error`` (e.g. "Failed to load resource").
    requests : list of str
        URLs of every network request the page made.
    """

    def __init__(self, executable: str, width: int = 1200, height: int = 900):
        self.executable = executable
        self.width, self.height = width, height
        self.profile = Path(tempfile.mkdtemp(prefix="geodemand-chromium-"))
        self.proc: subprocess.Popen | None = None
        self.ws = None
        self._next_id = 0
        self.events: list[dict] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Browser:
        args = [
            self.executable,
            "--headless",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--mute-audio",
            f"--window-size={self.width},{self.height}",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            self._connect()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _connect(self) -> None:
        import websocket

        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read().decode())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=TIMEOUT_S, suppress_origin=True
        )
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")

    # ------------------------------------------------------------------ protocol
    def _record(self, event: dict) -> None:
        self.events.append(event)
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console_errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            exc = d.get("exception", {})
            desc = exc.get("description") or exc.get("value") or ""
            where = f"{d.get('url', '')}:{d.get('lineNumber')}:{d.get('columnNumber')}"
            self.console_errors.append(f"uncaught exception: {d.get('text')} {desc} at {where}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"log error: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def send(self, method: str, **params: Any) -> dict:
        """Send one command and return its ``result`` (events that arrive are recorded)."""
        self._next_id += 1
        my_id = self._next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})
            self._record(msg)
        raise TimeoutError(f"no answer to {method}")

    def wait_for_event(self, method: str, timeout: float = TIMEOUT_S) -> dict:
        """Wait until an event named ``method`` arrives (or was already recorded)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "id" not in msg:
                self._record(msg)
                if msg.get("method") == method:
                    return msg
        raise TimeoutError(f"event {method} did not arrive")

    # ------------------------------------------------------------------ page helpers
    def navigate(self, url: str) -> None:
        """Open ``url`` and wait for the page's load event."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = TIMEOUT_S) -> None:
        """Poll a JavaScript expression until it is truthy."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def settle(self, seconds: float = 0.3) -> None:
        """Let the page run for a moment (animations, lazy handlers) and collect events."""
        self.evaluate(f"new Promise(r => setTimeout(r, {int(seconds * 1000)}))", await_promise=True)

    def screenshot(self, path: Path) -> Path:
        """Write a PNG screenshot of the viewport to ``path``."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path


# ---------------------------------------------------------------------------- map inputs
#: Hostile strings placed in every text input of the test maps.
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'
XSS_TEMPLATE = "`${window.__xss=3}`"
XSS_BREAKOUT = "</script><script>window.__xss=4</script>"
XSS_PAYLOADS = (XSS_SCRIPT, XSS_IMG, XSS_TEMPLATE, XSS_BREAKOUT)
#: Jinja payloads: an expression (rendered as 49 if text were compiled as a template) and a
#: call that would create :data:`JINJA_PROBE` (code execution) if it ever ran.
JINJA_PROBE = Path(tempfile.gettempdir()) / f"geodemand-jinja-probe-{os.getpid()}"
JINJA_EXPR = "{{7*7}}"
JINJA_EXEC = "{{ lipsum.__globals__['os'].makedirs('" + JINJA_PROBE.as_posix() + "') }}"
JINJA_BLOCK = "{% for x in [1] %}{{ cycler.__init__.__globals__.os.getcwd() }}{% endfor %}"
JINJA_PAYLOADS = (JINJA_EXPR, JINJA_EXEC, JINJA_BLOCK)
#: The hostile texts of :func:`map_inputs`: each XSS payload followed by a Jinja payload.
HOSTILE_TEXTS = tuple(
    f"{x} {j}"
    for x, j in zip(XSS_PAYLOADS, (JINJA_EXPR, JINJA_EXEC, JINJA_BLOCK, JINJA_EXPR), strict=True)
)


#: A long partnership note: with it the rank-1 card is taller than the popup's maximum
#: height, so the card must scroll inside the popup (tested in the browser).
LONG_NOTE = "Joint problem-solving plan with the council and the licensing team. " * 12


def map_inputs(hostile: bool = True) -> dict[str, Any]:
    """Small, fully known inputs of :func:`geodemand.hotspot_map` in EPSG:27700.

    Built by hand (no engine is run): a 40 x 30 grid of 100 m cells west of Birmingham city
    centre with one hot cell (row 10, col 20) of 500 incidents per km², a 2 x 2 warm block of
    100, a NaN corner and zeros elsewhere; Gi* cells (two touching bin-3 cells, one lone
    bin-3 cell, one bin -2 cell and one bin-0 cell); two LPUs (their union is the force
    area); four neighbourhoods (also the risk polygons, one without data); four patrol areas
    (ranks 2, 1, 4, 3 in that row order; rank 3 is a two-part MultiPolygon) with every
    documented card column and a few undocumented ones; five repeat places; six incidents
    (one with month precision); emerging-pattern cells (two touching intensifying hot spot
    cells, one new hot spot, one no-pattern cell). With ``hostile`` every free-text field
    holds one of :data:`HOSTILE_TEXTS` (an XSS payload and a Jinja payload).
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from geodemand.grid import Grid

    bad = HOSTILE_TEXTS if hostile else ("plain one", "plain two", "plain three", "plain four")
    grid = Grid(
        x_min=404000.0, y_min=285000.0, cell_size=100.0, n_cols=40, n_rows=30, crs="EPSG:27700"
    )
    density = np.zeros(grid.shape)
    density[10, 20] = 500.0
    density[20:22, 5:7] = 100.0
    density[:3, :3] = np.nan
    mask = np.zeros(grid.shape, dtype=bool)
    cells_rc = {(5, 5): 3, (5, 6): 3, (15, 30): 3, (25, 10): -2, (2, 35): 0}
    for r, c in cells_rc:
        mask[r, c] = True
    cells = grid.to_geodataframe(mask=mask)
    cells["gistar_bin"] = [
        cells_rc[(r, c)] for r, c in zip(cells["row"], cells["col"], strict=True)
    ]
    emerging_rc = {(8, 8): 3, (8, 9): 3, (20, 30): 1, (12, 12): 0}
    emask = np.zeros(grid.shape, dtype=bool)
    for r, c in emerging_rc:
        emask[r, c] = True
    emerging = grid.to_geodataframe(mask=emask)
    emerging["pattern_code"] = [
        emerging_rc[(r, c)] for r, c in zip(emerging["row"], emerging["col"], strict=True)
    ]
    x0, y0, x1, y1 = grid.bounds
    xm = (x0 + x1) / 2
    lpus = gpd.GeoDataFrame(
        {"lpu": [f"Birmingham West {bad[0]}", "Birmingham East"]},
        geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)],
        crs="EPSG:27700",
    )
    ym = (y0 + y1) / 2
    neighbourhoods = gpd.GeoDataFrame(
        {
            "neighbourhood": [bad[1], "Ladywood", "Soho", "Nechells"],
            "lpu": [lpus.lpu[0], lpus.lpu[0], "Birmingham East", "Birmingham East"],
        },
        geometry=[
            shapely.box(x0, y0, xm, ym),
            shapely.box(x0, ym, xm, y1),
            shapely.box(xm, y0, x1, ym),
            shapely.box(xm, ym, x1, y1),
        ],
        crs="EPSG:27700",
    )
    risk = neighbourhoods[["neighbourhood", "geometry"]].rename(
        columns={"neighbourhood": "label"}
    )
    risk["value"] = [12.5, 3.25, np.nan, 40.0]
    risk["count"] = [25, 13, np.nan, 80]
    risk["population"] = [2000, 4000, 1500, 2000]
    geoms = [
        shapely.box(405000, 286000, 405600, 286500),
        shapely.box(406500, 287000, 407000, 287400),
        shapely.box(408000, 285500, 408300, 286000),
        shapely.MultiPolygon(
            [
                shapely.box(404200, 287800, 404500, 287950),
                shapely.box(404700, 287800, 404900, 287950),
            ]
        ),
    ]
    patrol = gpd.GeoDataFrame(
        {
            "area_id": ["PA-b", "PA-a", "PA-d", "PA-c"],
            "rank": [2, 1, 4, 3],
            "force_rank": [3, 1, 4, 2],
            "label": [f"Broad Street {bad[1]}", "New Street", None, bad[2]],
            "lpu": [lpus.lpu[0], lpus.lpu[0], "Birmingham East", "Birmingham East"],
            "neighbourhoods": [[bad[1], "Ladywood"], ["Ladywood"], ["Soho"], [bad[2]]],
            "status": ["continuing (3 weeks)", "new", bad[3], "expired"],
            "expected_harm": [210.4, 388.75, 12.0, 45.5],
            "harm": [1234.5, 2345.25, 99.5, 310.0],
            "incidents": [41, 57, 12, 19],
            "incidents_violence-and-sexual-offences": [20, 22, 0, 5],
            "incidents_anti-social-behaviour": [10, 15, 6, 9],
            "incidents_burglary": [5, 9, 3, 0],
            "incidents_robbery": [3, 4, 0, 2],
            "incidents_shoplifting": [2, 3, 3, 1],
            "incidents_bicycle-theft": [1, 2, 0, 0],
            "incidents_drugs": [0, 0, 0, 0],
            f"incidents_{bad[3]}": [0, 2, 0, 2],
            "visits_per_day": [3, 4, 1, 2],
            "minutes_per_visit": [15, 15, 10, 15],
            "hot_hours": ["Fri 22–24, Sat 00–02", bad[0], "Sat 14–16", "Sun 10–12"],
            "review_date": pd.to_datetime(["2025-12-08"] * 4),
            "partnership": [False, True, False, True],
            "partnership_reason": [None, f"{LONG_NOTE}{bad[3]}", None, "Licensing review"],
            "score": [0.81, 0.93, 0.42, 0.55],
            "score_harm": [0.2, 0.25, 0.1, 0.15],
            "x_bng": [405300.0, 406750.0, 408150.0, 404550.0],
            "top_crime_type": [bad[0], "burglary", bad[3], "robbery"],
        },
        geometry=geoms,
        crs="EPSG:27700",
    )
    repeats = pd.DataFrame(
        {
            "x": [405100.0, 405150.0, 406600.0, 407500.0, 404300.0],
            "y": [286100.0, 286120.0, 287100.0, 286500.0, 287850.0],
            "label": [f"On or near {bad[1]}", "On or near High Street", bad[0], "Park", bad[3]],
            "rank": [1, 2, 3, 4, 5],
            "count": [12, 9, 7, 5, 4],
            "harm": [120.5, 80.0, 70.25, 10.0, 4.0],
            "n_burglary": [6, 9, 0, 1, 4],
            "n_anti-social-behaviour": [6, 0, 7, 4, 0],
            "n_cells": [1, 1, 1, 1, 1],
            "hot_hours": [bad[2], "Mon 08–10", None, None, None],
        }
    )
    incidents = pd.DataFrame(
        {
            "x": [405120.0, 405130.0, 406610.0, 407520.0, 404320.0, 408100.0],
            "y": [286110.0, 286115.0, 287110.0, 286520.0, 287860.0, 285700.0],
            "crime_type": ["burglary", "anti-social-behaviour", bad[2], "Robbery",
                           "vehicle-crime", "shoplifting"],
            "occurred": pd.to_datetime(
                ["2025-11-21 22:15", "2025-11-22 00:00", "2025-11-20 03:00",
                 "2025-11-19 13:30", "2025-11-18 00:00", "2025-11-01 00:00"]
            ),
            "date_precision": ["day", "day", "day", "day", "day", "month"],
            "label": [f"On or near {bad[0]}", "On or near High Street", None, bad[1],
                      "On or near Park", "Supermarket"],
        }
    )
    return {
        "lpus": lpus,
        "neighbourhoods": neighbourhoods,
        "density": density,
        "density_grid": grid,
        "density_units": "incidents per km²",
        "hotspot_cells": cells,
        "patrol_areas": patrol,
        "repeat_places": repeats,
        "incidents": incidents,
        "emerging": emerging,
        "risk": risk,
        "risk_units": "incidents per 1,000 residents",
        "force_area": lpus.dissolve(),
        "crs": "EPSG:27700",
        "title": f"Birmingham {bad[2]}",
        "period": f"week 2025-W47 {bad[1]}",
        "window": "2023-11-24 to 2025-11-23 (2 years)",
        "data_source": f"synthetic {bad[3]}",
        "synthetic": True,
    }
