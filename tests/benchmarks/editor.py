"""The editor with a 500-step pipeline, in headless Chromium against the real server.

A realistic layered DAG (25 layers of 20 steps; each step reads one or two outputs of the layer
before and waits for one more step of it), saved with positions as the editor saves them. Load
time: from navigation to ``/pipelines/<id>/edit`` until all 500 nodes are in the page and shown
(measured with the page's own clock: ``performance.now()`` counts from navigation start). Drag:
a node is dragged with 60 mouse moves while a requestAnimationFrame loop in the page records
frame timestamps; a frame's time is the gap between two frames. Targets: load under 2 s, drag
frames under 50 ms. Also the production bundle's size: every ``dist/assets/*.js`` gzipped.
"""
from __future__ import annotations

import gzip
import os
import random
import statistics
import subprocess
import time
from pathlib import Path

LAYERS, WIDTH = 25, 20
LOADS = 3
DRAG_MOVES = 60
LOAD_TARGET_S, FRAME_TARGET_MS = 2.0, 50.0
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
CHROMIUM = os.environ.get("TRELLIS_CHROMIUM", "/usr/bin/chromium")


def layered_spec(layers: int = LAYERS, width: int = WIDTH, seed: int = 7) -> dict:
    """``layers`` x ``width`` steps; positions as the editor's auto-layout places them."""
    rng = random.Random(seed)
    steps = []
    for layer in range(layers):
        for i in range(width):
            name = f"l{layer:02d}-s{i:02d}"
            step = {"name": name, "type": "python", "command": ["python", "-c", "pass"],
                    "resources": {"cpu": 0.5, "memory_mb": 512}, "outputs": ["data", "report"],
                    "position": {"x": layer * 320, "y": i * 170}}
            if layer:
                before = [f"l{layer - 1:02d}-s{j:02d}" for j in rng.sample(range(width), 3)]
                step["inputs"] = {f"in{k}": f"{src}.data" for k, src in enumerate(before[: rng.choice((1, 2))])}
                step["depends_on"] = [before[2]]
            steps.append(step)
    return {"steps": steps}


def bundle_gzip_bytes() -> tuple[int, int]:
    """(raw, gzipped) bytes of every JavaScript file of the production build."""
    files = sorted((FRONTEND / "dist" / "assets").glob("*.js"))
    raw = sum(f.stat().st_size for f in files)
    return raw, sum(len(gzip.compress(f.read_bytes(), compresslevel=9)) for f in files)


def ensure_build() -> None:
    """Build the frontend when dist/ is missing or older than any source file."""
    index = FRONTEND / "dist" / "index.html"
    built_at = index.stat().st_mtime if index.exists() else 0
    newest = max(p.stat().st_mtime for p in (FRONTEND / "src").rglob("*") if p.is_file())
    if newest > built_at:
        print("building the frontend (npm run build)…", flush=True)
        subprocess.run(["npm", "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    from .environment import trellis_environment

    ensure_build()
    raw, gzipped = bundle_gzip_bytes()
    print(f"production JS bundle: {raw / 1024:.1f} KiB, gzipped {gzipped / 1024:.1f} KiB "
          f"(sum of frontend/dist/assets/*.js)")
    with trellis_environment("web") as stack:
        _measure(stack)


def _measure(stack) -> None:
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from pipelines import services
    from scheduling.models import Membership, Quota, Team
    from tests.browser.conftest import CHROMIUM_FLAGS

    team = Team.objects.create(name="bench")
    Quota.objects.create(team=team, cpu=64, memory_mb=10**6, gpu=0)
    user = get_user_model().objects.create_user("bench", password="bench-password")
    Membership.objects.create(team=team, user=user, role="editor")
    spec = layered_spec()
    pipeline = services.create_pipeline(team=team, name="big", spec=spec, user=user)
    edges = sum(len(s.get("inputs", {})) + len(s.get("depends_on", [])) for s in spec["steps"])
    print(f"pipeline: {len(spec['steps'])} steps in {LAYERS} layers, {edges} edges")

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop here
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.goto(f"{stack.base_url}/login?next=/")
            page.get_by_test_id("login-username").fill("bench")
            page.get_by_test_id("login-password").fill("bench-password")
            page.get_by_test_id("login-submit").click()
            page.wait_for_url(lambda url: "/login" not in url)

            loads = [_load(page, f"{stack.base_url}/pipelines/{pipeline.pk}/edit", len(spec["steps"]))
                     for _ in range(LOADS)]
            frames, moves = _drag(page)
        finally:
            browser.close()

    first, median_load = loads[0], statistics.median(loads)
    print(f"load (navigation -> {len(spec['steps'])} nodes shown): first {first:.2f} s, "
          f"median of {LOADS} {median_load:.2f} s; target {LOAD_TARGET_S:.0f} s "
          f"({'met' if max(loads) < LOAD_TARGET_S else 'MISSED'})")
    frame_median, frame_p95 = statistics.median(frames), _p95(frames)
    print(f"drag ({DRAG_MOVES} moves, {len(frames)} frames): frame median {frame_median:.1f} ms, "
          f"p95 {frame_p95:.1f} ms, max {max(frames):.1f} ms; per mouse move median "
          f"{statistics.median(moves):.1f} ms; target {FRAME_TARGET_MS:.0f} ms "
          f"({'met' if frame_p95 < FRAME_TARGET_MS else 'MISSED'})")


def _load(page, url: str, count: int) -> float:
    """Seconds from navigation start until ``count`` nodes are in the page and none is hidden
    (React Flow hides a node until it has measured it)."""
    page.goto("about:blank")
    page.goto(url, wait_until="commit")
    handle = page.wait_for_function(
        """(count) => {
            const nodes = document.querySelectorAll('.react-flow__node');
            if (nodes.length < count) return false;
            for (const n of nodes) if (n.style.visibility === 'hidden') return false;
            return performance.now();
        }""",
        arg=count, polling="raf", timeout=60_000,
    )
    return handle.json_value() / 1000


def _drag(page) -> tuple[list[float], list[float]]:
    """Drag a node from the middle of the pipeline; (frame gaps ms, wall ms per mouse move)."""
    page.wait_for_timeout(500)  # let validation and the first fit settle
    node = page.locator('[data-testid="step-l12-s10"] .editor-node-head')
    box = node.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate("""() => {
        window.__frames = [];
        window.__recording = true;
        const tick = (t) => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }""")
    page.mouse.move(x, y)
    page.mouse.down()
    moves = []
    for i in range(1, DRAG_MOVES + 1):
        started = time.perf_counter()
        page.mouse.move(x + i * 4, y + i * 2)
        moves.append((time.perf_counter() - started) * 1000)
    page.mouse.up()
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    stamps = page.evaluate("() => { window.__recording = false; return window.__frames; }")
    return [b - a for a, b in zip(stamps, stamps[1:])], moves


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
