"""How well `bench --path kb` splits a knowledge-base answer, and what a full `doctor` costs on Chatchat.

    .venv/bin/python benchmarks/bench_kb.py [--requests 5] [--no-real] [--json PATH]

1. Accuracy of the split. A Chatchat-shaped KB server (0.3.x routes and frames, in this process) answers
   ``/chat/kb_chat`` as 0.3.1.3 does: three embedding calls to the lab (``/api/embeddings``, a new
   connection each), an injected retrieval delay R, the documents frame, then the lab's streamed answer; and
   ``/knowledge_base/search_docs`` with two embedding calls and R. The lab's embedding model costs an injected
   E per text (``embed_seconds_per_text``). ``tuner.measure.kb`` recovers E (its own embedding call) and R
   (documents frame − 3 × E measured); target: within 5 % or 2 ms, whichever is larger.
2. A full doctor on real Chatchat 0.3.1.3 (when its venv exists; ``--no-real`` skips it) with the lab as
   its Ollama for chat and embeddings and a small KB made through Chatchat's API: wall time and CPU of
   ``chatchat-tune doctor --kb NAME --json`` at its default budget (8 s), and whether it stayed within it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, emit, tool_command

from tuner.install.kb import Corpus, EmbedEndpoint, KbSettings
from tuner.install.layout import KB_031
from tuner.lab.process import LabProcess
from tuner.lab.profiles import EMBED_MODEL
from tuner.measure.kb import KbRequest, run_kb

CHAT = "qwen2:7b"
GRID = ((0.0, 0.0), (0.010, 0.050), (0.050, 0.300), (0.100, 1.000))  # (E, R) seconds; the first: baseline
TOLERANCE = (0.05, 0.002)


def stub_server(lab_url: str, retrieval: float) -> ThreadingHTTPServer:
    """A KB server shaped like Chatchat 0.3.1.3's routes, with an injected retrieval delay."""

    # A new connection per call, as Chatchat's requests.post makes (no connection is kept); one client, so
    # that the stub adds no client construction of its own.
    client = httpx.Client(trust_env=False, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))

    def embed(text: str) -> None:
        body = {"model": EMBED_MODEL, "prompt": text}
        client.post(f"{lab_url}/api/embeddings", json=body).raise_for_status()

    docs = [{"page_content": f"passage {i}", "metadata": {}, "id": str(i)} for i in range(3)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> dict[str, Any]:
            n = int(self.headers.get("content-length") or 0)
            data: dict[str, Any] = json.loads(self.rfile.read(n) or b"{}")
            return data

        def _send(self, payload: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._send(json.dumps({"code": 200, "data": ["kb"]}).encode(), "application/json")

        def do_POST(self) -> None:
            body = self._body()
            query = str(body.get("query", ""))
            if self.path == "/knowledge_base/search_docs":
                embed("this is a test")
                embed(query)
                time.sleep(retrieval)
                self._send(json.dumps(docs).encode(), "application/json")
                return
            embed("this is a test")  # kb_chat's own check, then search_docs' check and the query
            embed("this is a test")
            embed(query)
            time.sleep(retrieval)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(f"data: {json.dumps({'docs': ['[1] passage']})}\n\n".encode())
            self.wfile.flush()
            chat = {
                "model": CHAT,
                "messages": [{"role": "user", "content": query}],
                "stream": True,
                "max_tokens": 16,
            }
            with client.stream("POST", f"{lab_url}/v1/chat/completions", json=chat) as resp:
                for line in resp.iter_lines():
                    if line.startswith("data:") and "[DONE]" not in line:
                        self.wfile.write(f"{line}\n\n".encode())
                        self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_stub(lab_url: str, retrieval: float) -> None:
    """``--stub``: serve in a process of its own (no GIL shared with the measuring client); print the port."""
    server = stub_server(lab_url, retrieval)
    print(server.server_address[1], flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


def start_stub(lab_url: str, retrieval: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--stub", lab_url, str(retrieval)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}"


def accuracy(requests: int) -> list[dict[str, Any]]:
    """One row per (E, R) and path. The measured embedding call is a whole round trip on a new connection:
    its target is E plus the round trip of a free embedding; retrieval's is R plus the server's own work
    before the model (parsing, its connection, the frames), both measured in the baseline row (E = R = 0)."""
    rows: list[dict[str, Any]] = []
    baseline = 0.0
    retrieval_baseline: dict[str, float] = {}
    for e, r in GRID:
        chat = {
            "name": CHAT, "size_bytes": 5_000_000, "size_vram": 0, "load_seconds": 0.0,
            "prompt_tokens_per_s": 1e9, "gen_tokens_per_s": 2000.0,
        }  # fmt: skip
        emb = {
            "name": EMBED_MODEL, "size_bytes": 671_000_000, "size_vram": 0, "load_seconds": 0.0,
            "prompt_tokens_per_s": 1e9, "gen_tokens_per_s": 1.0, "family": "bert", "embedding_dim": 64,
            "embed_seconds_per_text": e,
        }  # fmt: skip
        with LabProcess(profile="zero", models=[chat, emb], seed=1) as lab:
            stub, base = start_stub(lab.url, r)
            settings = KbSettings(
                kb="kb", default_kb="kb", top_k=3, score_threshold=2.0, vs_type="faiss", chunk_size=750,
                embed_model=EMBED_MODEL, kb_root=None, db_path=None, bm25=True, layout=KB_031,
                embed=EmbedEndpoint(
                    model=EMBED_MODEL, platform="ollama", url=f"{lab.url}/api/embeddings", root=lab.url,
                    protocol="ollama-embeddings",
                ),
            )  # fmt: skip
            corpus = Corpus(
                exists=False, documents=0, document_bytes=0, largest_document=None, largest_document_bytes=0,
                chunks=None, index_bytes=0, vector_store=None,
            )  # fmt: skip
            for path in ("kb", "search"):
                req = KbRequest(path=path, chatchat=base, model=CHAT, settings=settings, requests=requests)
                run = run_kb(req, corpus)
                embed_m, retr_m = run.median("embed"), run.median("retrieval")
                assert embed_m is not None and retr_m is not None, run.splits
                if e == 0.0:
                    baseline = embed_m if path == "kb" else baseline
                    retrieval_baseline[path] = retr_m
                    continue
                r0 = retrieval_baseline[path]
                rows.append(
                    {
                        "path": path,
                        "injected_embed_s": e,
                        "measured_embed_s": embed_m,
                        "embed_round_trip_baseline_s": baseline,
                        "embed_error_s": embed_m - (e + baseline),
                        "injected_retrieval_s": r,
                        "measured_retrieval_s": retr_m,
                        "retrieval_baseline_s": r0,
                        "retrieval_error_s": retr_m - (r + r0),
                        "model_s": run.median("model"),
                        "within": all(
                            abs(m - x) <= max(TOLERANCE[0] * x, TOLERANCE[1])
                            for m, x in ((embed_m, e + baseline), (retr_m, r + r0))
                        ),
                    }
                )
            stub.terminate()
            stub.wait(timeout=10)
    return rows


def full_doctor() -> dict[str, Any] | None:
    sys.path.insert(0, str(ROOT / "tests" / "real"))
    import chatchat_real as cr

    venv = cr.venv_path()
    if not cr.chatchat_exe(venv).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp, LabProcess(profile="tiny", seed=2) as lab:
        root = cr.init_root(venv, Path(tmp) / "root")
        cr.loopback_platforms(
            root, f"{lab.url}/v1", llm_models=(CHAT,), embed_models=(EMBED_MODEL,), api_port=cr.free_port()
        )
        with cr.chatchat_api(root, venv) as base, httpx.Client(trust_env=False, timeout=120) as c:
            c.post(
                f"{base}/knowledge_base/create_knowledge_base",
                json={
                    "knowledge_base_name": "bench_kb",
                    "vector_store_type": "faiss",
                    "embed_model": EMBED_MODEL,
                },
            ).raise_for_status()
            rows = "topic,text\n" + "".join(f"t{i},row {i} about rivers and bridges\n" for i in range(40))
            c.post(
                f"{base}/knowledge_base/upload_docs",
                files=[("files", ("rows.csv", rows.encode(), "text/csv"))],
                data={"knowledge_base_name": "bench_kb", "to_vector_store": "true"},
            ).raise_for_status()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(
                [*tool_command(), "doctor", "--root", str(root), "--kb", "bench_kb", "--json"],
                capture_output=True, text=True, timeout=120, env=cr.offline_env(),
            )  # fmt: skip
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(proc.stdout)
    return {
        "exit_code": proc.returncode,
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "budget_s": report["probe"]["budget"],
        "probe_elapsed_s": report["probe"]["elapsed"],
        "path_elapsed_s": report["path"]["elapsed"],
        "within_budget": report["probe"]["elapsed"] + report["path"]["elapsed"] <= report["probe"]["budget"],
        "findings": [f["code"] for f in report["findings"]],
        "skipped": report["path"]["skipped"],
        "kb_probe": report["path"]["kb"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--stub", nargs=2, metavar=("LAB_URL", "RETRIEVAL_S"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stub:
        serve_stub(args.stub[0], float(args.stub[1]))
        return
    rows = accuracy(args.requests)
    print("KB split accuracy (median of", args.requests, "answers; target ±5 % or ±2 ms)")
    base = rows[0]["embed_round_trip_baseline_s"] * 1e3 if rows else 0.0
    print(f"embedding round trip at E = 0 (new connection, HTTP, JSON): {base:.2f} ms")
    if rows:
        r0s = {r["path"]: r["retrieval_baseline_s"] * 1e3 for r in rows}
        kb0, search0 = r0s["kb"], r0s["search"]
        print(f"server's own work before the model at R = 0: kb {kb0:.2f} ms, search {search0:.2f} ms")
    print(f"{'path':7}{'E ms':>7}{'E meas':>9}{'E err':>8}{'R ms':>8}{'R meas':>9}{'R err ms':>10}  ok")
    for row in rows:
        print(
            f"{row['path']:7}{row['injected_embed_s'] * 1e3:7.0f}{row['measured_embed_s'] * 1e3:9.2f}"
            f"{row['embed_error_s'] * 1e3:8.2f}"
            f"{row['injected_retrieval_s'] * 1e3:8.0f}{row['measured_retrieval_s'] * 1e3:9.2f}"
            f"{row['retrieval_error_s'] * 1e3:10.2f}  {'yes' if row['within'] else 'NO'}"
        )
    results: dict[str, Any] = {"accuracy": rows}
    if not args.no_real:
        doctor = full_doctor()
        results["doctor"] = doctor
        if doctor is None:
            print("full doctor: skipped (no Chatchat venv: scripts/setup-chatchat)")
        else:
            d = doctor
            print(
                f"full doctor on real Chatchat 0.3.1.3: wall {d['wall_s']:.2f} s, CPU {d['cpu_s']:.2f} s, "
                f"probes {d['probe_elapsed_s']:.2f} s + path {d['path_elapsed_s']:.2f} s of a "
                f"{d['budget_s']:g} s budget (within: {d['within_budget']}); findings {d['findings']}"
            )
    kb_rows = [r for r in rows if r["path"] == "kb"]
    share = statistics.mean(1.0 if r["within"] else 0.0 for r in kb_rows) * 100
    print(f"kb path: {share:.0f} % of rows within target (search rows: information)")
    emit(results, args.json)


if __name__ == "__main__":
    main()
