"""HTTP client of the zpd curriculum server (`zpd serve`, wire contract v1).

Standard library only. Every call sends the bearer token; a connection error,
a reset or a timeout is retried with the same body (select and observe are
idempotent per cursor, so a retry after a lost reply gets the journaled
answer). A reply with an error status raises :class:`ZpdServerError`, which
names the route, the HTTP status and the server's error code and message.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

__all__ = ["ZpdClient", "ZpdError", "ZpdServerError", "ZpdConnectionError", "client_from_env"]


class ZpdError(Exception):
    """Base class of the adapter errors."""


class ZpdServerError(ZpdError):
    """The server answered with an error status.

    ``route`` is e.g. ``"POST /v1/select"``, ``status`` the HTTP status,
    ``code`` the contract's snake_case error code (``too_far_ahead``,
    ``dataset_mismatch``, ``unauthorized`` ...) and ``message`` the server's text.
    """

    def __init__(self, route: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{route} -> {status} {code}: {message}")
        self.route = route
        self.status = status
        self.code = code
        self.message = message


class ZpdConnectionError(ZpdError):
    """The server could not be reached within the retry budget."""


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return False
    if isinstance(error, urllib.error.URLError):
        return True
    return isinstance(
        error,
        (ConnectionError, socket.timeout, TimeoutError, http.client.RemoteDisconnected, http.client.BadStatusLine),
    )


class ZpdClient:
    """A JSON client of one curriculum server.

    :param url: the server's base address, e.g. ``http://127.0.0.1:8731`` (the
        ``listening on`` line of ``zpd serve``).
    :param token: the bearer token (printed by ``zpd serve`` as ``token=...``).
    :param timeout: seconds per attempt.
    :param retry_for: total seconds a call keeps retrying connection errors
        (a restarting server comes back within this window).
    :param wait_ahead: seconds a ``select`` keeps retrying while the server
        answers 409 ``too_far_ahead`` (another rank or thread has yet to
        observe an earlier step); 0 raises at once.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retry_for: float = 60.0,
        wait_ahead: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"ZpdClient url: expected an http(s) address such as http://127.0.0.1:8731, got {url!r}")
        if not isinstance(token, str) or token == "":
            raise ValueError("ZpdClient token: expected the non-empty token that `zpd serve` printed (token=...)")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry_for = retry_for
        self.wait_ahead = wait_ahead
        self._sleep = sleep
        self.attempts = 0
        """Total HTTP attempts made (retries included); tests read it."""

    # -- transport ---------------------------------------------------------

    def request(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """One JSON call with retries on connection errors; returns the decoded reply."""
        route = f"{method} {path}"
        try:
            data = None if body is None else json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except ValueError as error:  # NaN or infinity: not JSON
            raise ZpdError(f"{route}: the body holds a non-finite number ({error})") from None
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            self.attempts += 1
            req = urllib.request.Request(self.url + path, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            req.add_header("Accept", "application/json")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                    raw = reply.read()
                return self._decode(route, reply.status, raw)
            except urllib.error.HTTPError as error:
                raw = error.read()
                raise self._server_error(route, error.code, raw) from None
            except Exception as error:  # noqa: BLE001 - classified below
                if not _is_connection_error(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise ZpdConnectionError(
                        f"{route}: no answer from {self.url} after retrying for {self.retry_for:g} s ({error})"
                    ) from error
                self._sleep(delay)
                delay = min(delay * 2, 1.0)

    @staticmethod
    def _decode(route: str, status: int, raw: bytes) -> Dict[str, Any]:
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ZpdServerError(route, status, "bad_reply", f"reply is not JSON ({error}): {raw[:200]!r}") from None
        if not isinstance(value, dict):
            raise ZpdServerError(route, status, "bad_reply", f"expected a JSON object, got {type(value).__name__}")
        return value

    @staticmethod
    def _server_error(route: str, status: int, raw: bytes) -> ZpdServerError:
        try:
            body = json.loads(raw.decode("utf-8"))
            err = body["error"]
            return ZpdServerError(route, status, str(err.get("code", "unknown")), str(err.get("message", "")))
        except Exception:  # noqa: BLE001 - a non-contract error body is reported verbatim
            return ZpdServerError(route, status, "unknown", raw[:300].decode("utf-8", "replace"))

    # -- routes --------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/health")

    def attach(self, ids: Sequence[str], prompt_sha256: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"ids": list(ids)}
        if prompt_sha256 is not None:
            body["prompt_sha256"] = list(prompt_sha256)
        return self.request("POST", "/v1/attach", body)

    def select(self, cursor: int, batch_size: Optional[int] = None) -> List[int]:
        """The batch (trainer positions) of step ``cursor``; the same list on every call."""
        body: Dict[str, Any] = {"cursor": int(cursor)}
        if batch_size is not None:
            body["batch_size"] = int(batch_size)
        deadline = time.monotonic() + self.wait_ahead
        delay = 0.02
        while True:
            try:
                reply = self.request("POST", "/v1/select", body)
                break
            except ZpdServerError as error:
                if error.code != "too_far_ahead" or time.monotonic() + delay > deadline:
                    raise
                self._sleep(delay)
                delay = min(delay * 2, 0.5)
        indices = reply.get("indices")
        if reply.get("cursor") != cursor or not isinstance(indices, list):
            raise ZpdServerError(
                "POST /v1/select", 200, "bad_reply", f"expected cursor {cursor} and a list of indices, got {reply!r:.300}"
            )
        if batch_size is not None and len(indices) != batch_size:
            raise ZpdServerError(
                "POST /v1/select", 200, "bad_reply", f"asked for {batch_size} indices at cursor {cursor}, got {len(indices)}"
            )
        return [int(i) for i in indices]

    def observe(self, cursor: int, groups: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        return self.request("POST", "/v1/observe", {"cursor": int(cursor), "groups": list(groups)})

    def metrics(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/metrics")

    def state(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/state")

    def restore(self, state: Mapping[str, Any], observe_recorded: Optional[Sequence[int]] = None) -> Dict[str, Any]:
        """POST /v1/restore. ``observe_recorded``: cursors the checkpoint trained but had not reported; the
        server re-applies the outcomes it recorded for them (reply: ``reobserved``, ``not_recorded``)."""
        body = dict(state)
        if observe_recorded:
            body["observe_recorded"] = [int(t) for t in observe_recorded]
        return self.request("POST", "/v1/restore", body)

    def checkpoint(self) -> Dict[str, Any]:
        return self.request("POST", "/v1/checkpoint", {})


def client_from_env(url: Optional[str] = None, token: Optional[str] = None, **options: Any) -> ZpdClient:
    """A client from explicit values or the ``ZPD_SERVE_URL`` / ``ZPD_SERVE_TOKEN`` environment variables."""
    url = url or os.environ.get("ZPD_SERVE_URL")
    token = token or os.environ.get("ZPD_SERVE_TOKEN")
    if not url:
        raise ValueError("zpd curriculum server address: set ZPD_SERVE_URL or pass url= (the `zpd serve` listening line)")
    if not token:
        raise ValueError("zpd curriculum server token: set ZPD_SERVE_TOKEN or pass token= (printed by `zpd serve`)")
    return ZpdClient(url, token, **options)
