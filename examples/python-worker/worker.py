#!/usr/bin/env python3
"""An execstream worker in Python, standard library only (urllib): the producer API of
CONTRACT §12 end to end.

It claims executions (long poll), holds each one's lease (renewed in a thread), and reports the
run's steps as fenced appends, each with an Idempotency-Key named after the step: an append
retried blindly, or a step re-sent by the worker that takes the run over after this one died,
lands once. It stops a run when the server says the run is not its own any more (409
EXECUTION_TERMINAL: a user cancelled it; 409 LEASE_LOST: another worker holds it).

    EXECSTREAM_URL=http://127.0.0.1:3000 EXECSTREAM_PRODUCER_KEY=... python3 worker.py

See docs/producers.md.
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

# Statuses after which nothing is appended (CONTRACT §3).
TERMINAL = {"completed", "failed", "cancelled"}


class ApiError(Exception):
    """A refusal the server answered with its CONTRACT §7 body."""

    def __init__(self, status, code, message, body):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.body = body


class Stop(Exception):
    """The run is not this worker's any more: it ended, or another worker holds it."""


class Producer:
    def __init__(self, base_url, key, attempts=6):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.attempts = attempts

    def call(self, method, path, body=None, headers=None, timeout=60):
        """One request, retried while the failure is transient (no answer, 5xx, 429).

        Returns (status, parsed JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                self.base_url + path,
                data=data,
                method=method,
                headers={
                    "X-API-KEY": self.key,
                    "Content-Type": "application/json",
                    **(headers or {}),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    text = response.read().decode()
                    return response.status, (json.loads(text) if text else None)
            except urllib.error.HTTPError as error:
                text = error.read().decode()
                body_ = json.loads(text) if text else {}
                problem = body_.get("error", {})
                failure = ApiError(error.code, problem.get("code"), problem.get("message"), body_)
                transient = error.code >= 500 or error.code == 429
                wait = float(error.headers.get("Retry-After") or delay)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                failure = error
                transient = True
                wait = delay
            if not transient or attempt == self.attempts:
                raise failure
            time.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def claim(self, lease_ms, wait_ms, types=None):
        body = {"leaseMs": lease_ms, "waitMs": wait_ms}
        if types:
            body["types"] = types
        status, claim = self.call("POST", "/v1/producer/claims", body, timeout=wait_ms / 1000 + 30)
        return None if status == 204 else claim


class Run:
    """One claimed execution: its lease renewed in the background, its appends fenced."""

    def __init__(self, producer, claim, lease_ms):
        self.producer = producer
        self.operation_id = claim["operationId"]
        self.params = claim["params"]
        self.status = claim["status"]
        self.token = claim["lease"]["token"]
        self.lease_ms = lease_ms
        self.lost = threading.Event()
        self.why = None  # the code that took the run away, once it is gone
        self.renewer = threading.Thread(target=self._renew, daemon=True)
        self.renewer.start()

    def _path(self, tail=""):
        return f"/v1/producer/executions/{self.operation_id}{tail}"

    def _renew(self):
        while not self.lost.wait(self.lease_ms / 3000):
            try:
                self.producer.call(
                    "PUT", self._path("/lease"), {"token": self.token, "leaseMs": self.lease_ms}
                )
            except ApiError as error:
                if error.code in ("LEASE_LOST", "EXECUTION_TERMINAL", "EXECUTION_NOT_FOUND"):
                    self.why = error.code
                    self.lost.set()
            except Exception:  # an outage: the next renewal (or append) tells
                pass

    def append(self, step, events):
        """Appends a batch, fenced by the lease; `step` names it for idempotency."""
        if self.lost.is_set():
            raise Stop(self.why or "LEASE_LOST")
        try:
            _, result = self.producer.call(
                "POST",
                self._path("/events"),
                {"events": events, "leaseToken": self.token},
                headers={"Idempotency-Key": step},
            )
        except ApiError as error:
            if error.code in ("EXECUTION_TERMINAL", "LEASE_LOST"):
                self.why = error.code
                self.lost.set()
                raise Stop(error.code) from error
            raise
        self.status = result["status"]
        return result

    def transition(self, to, reason=None):
        payload = {"from": self.status, "to": to}
        if reason:
            payload["reason"] = reason
        return {"kind": "execution.state_changed", "payload": payload}

    def finish(self):
        self.lost.set()
        if self.status not in TERMINAL:
            try:
                self.producer.call("DELETE", self._path("/lease"), {"token": self.token})
            except ApiError:
                pass


def work(run, steps, interval, name=None):
    """The run itself: start, `steps` progress reports, a timeline entry, the result."""
    by = f" ({name})" if name else ""
    if run.status != "running":
        run.append("start", [run.transition("running", "Picked up by the Python worker")])
    for index in range(1, steps + 1):
        time.sleep(interval)
        percent = round(index * 100 / steps)
        run.append(
            f"step-{index}",
            [{"kind": "execution.progress", "payload": {"percent": percent, "step": "work", "message": f"Step {index} of {steps}{by}"}}],
        )
    run.append(
        "report",
        [{"kind": "execution.timeline_appended", "payload": {"message": "Work done in Python", "step": "work"}}],
    )
    run.append(
        "result",
        [
            {"kind": "execution.result", "payload": {"output": {"worker": "python", "steps": steps}, "summary": f"{steps} steps done"}},
            run.transition("completed"),
        ],
    )


def main():
    parser = argparse.ArgumentParser(description="An execstream worker: claims runs and reports them.")
    parser.add_argument("--url", default=os.environ.get("EXECSTREAM_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--types", nargs="*", help="claim only these execution types")
    parser.add_argument("--lease-ms", type=int, default=30_000)
    parser.add_argument("--wait-ms", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between steps")
    parser.add_argument("--once", action="store_true", help="exit after one run")
    parser.add_argument("--name", help="names this worker in its progress messages")
    args = parser.parse_args()
    key = os.environ.get("EXECSTREAM_PRODUCER_KEY")
    if not key:
        sys.exit("EXECSTREAM_PRODUCER_KEY is required: a producer key (EXECSTREAM_PRODUCER_KEYS, or keys create --producer)")

    producer = Producer(args.url, key)
    while True:
        claim = producer.claim(args.lease_ms, args.wait_ms, args.types)
        if claim is None:
            continue
        run = Run(producer, claim, args.lease_ms)
        print(json.dumps({"claimed": run.operation_id, "status": run.status}), flush=True)
        try:
            work(run, args.steps, args.interval, args.name)
            print(json.dumps({"completed": run.operation_id}), flush=True)
        except Stop as stop:
            print(json.dumps({"stopped": run.operation_id, "why": str(stop)}), flush=True)
        finally:
            run.finish()
        if args.once:
            return


if __name__ == "__main__":
    main()
