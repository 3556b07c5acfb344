"""Who may drive the worker, and where it may read and write.

- ``Auth``: every request must carry ``Authorization: Bearer <token>``. The token comes from
  ``ZPD_WORKER_TOKEN`` (``Worker.ts`` generates one per spawn); without it the worker makes
  one up and logs it once, unless ``--no-auth`` opens it explicitly. Compared in constant time.
- ``Directories``: the paths a client names (checkpoint and publish ``dir``, restore and
  load ``path``) must lie inside the directories the worker was started with. A relative
  path is taken relative to that directory; ``..`` and symlinks are resolved before the
  check, so neither can escape it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from typing import List, Optional, Sequence

from .sampling import BadRequest

TOKEN_ENV = "ZPD_WORKER_TOKEN"


class Unauthorized(Exception):
    pass


class Auth:
    def __init__(self, token: Optional[str]) -> None:
        self.token = token

    @staticmethod
    def from_environment(no_auth: bool, log) -> "Auth":
        if no_auth:
            log("--no-auth: every endpoint is open to anyone who can reach this port")
            return Auth(None)
        token = os.environ.pop(TOKEN_ENV, None)  # not inherited by anything this process starts
        if not token:
            token = secrets.token_hex(32)
            log(f"no {TOKEN_ENV} in the environment: generated one; send 'Authorization: Bearer {token}'")
        return Auth(token)

    def check(self, header: Optional[str]) -> None:
        if self.token is None:
            return
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            why = "no Authorization header" if not header else "a wrong bearer token"
            raise Unauthorized(f"unauthorized ({why}): every request to the zpd worker needs "
                               f"'Authorization: Bearer <token>', the token it was started with ({TOKEN_ENV})")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: assume it is reachable from elsewhere


def bind_warning(host: str, authenticated: bool) -> Optional[str]:
    """A warning for a bind address other machines can reach, or None for loopback."""
    if is_loopback(host):
        return None
    if not authenticated:
        return (f"WARNING: listening on {host!r} with --no-auth: any machine that reaches this port can train, "
                f"overwrite and read this model. Bind 127.0.0.1 or drop --no-auth.")
    return (f"WARNING: listening on {host!r}, reachable from other machines. Requests need the bearer token, "
            f"but the traffic (token included) is plain HTTP: use a private network or an SSH tunnel.")


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


class Directories:
    """The worker's configured directories: checkpoints (write + read), published weights
    (write + read), and extra read-only directories for ``load_weights``."""

    def __init__(self, checkpoint_dir: str, publish_dir: Optional[str], read_dirs: Sequence[str] = ()) -> None:
        self.checkpoint_dir = _real(checkpoint_dir)
        self.publish_dir = _real(publish_dir) if publish_dir else None
        self.read_dirs: List[str] = [_real(d) for d in read_dirs]

    def _confine(self, value, field: str, roots: List[str], flag: str) -> str:
        if not isinstance(value, str) or value == "":
            raise BadRequest(f"{field}: expected a non-empty path string, got {value!r}")
        if "\x00" in value:
            raise BadRequest(f"{field}: a path may not contain NUL bytes")
        if not roots:
            raise BadRequest(f"{field}: {value!r} refused: this worker has no {flag} configured (start it with "
                             f"{flag} DIR; it only reads and writes inside its configured directories)")
        candidate = _real(value if os.path.isabs(value) else os.path.join(roots[0], value))
        for root in roots:
            if _inside(candidate, root):
                return candidate
        shown = ", ".join(roots)
        raise BadRequest(f"{field}: {value!r} resolves to {candidate}, outside the worker's allowed "
                         f"director{'y' if len(roots) == 1 else 'ies'} ({shown}); the worker only reads and writes "
                         f"inside the directories it was started with ({flag})")

    def checkpoint_target(self, directory) -> str:
        """The directory a checkpoint goes to: ``--checkpoint-dir`` or a directory inside it."""
        if directory is None:
            return self.checkpoint_dir
        return self._confine(directory, "dir", [self.checkpoint_dir], "--checkpoint-dir")

    def checkpoint_source(self, path) -> str:
        return self._confine(path, "path", [self.checkpoint_dir], "--checkpoint-dir")

    def publish_target(self, directory) -> Optional[str]:
        """Where weights are published: ``--publish-dir`` or inside it; None = publish nothing."""
        if directory is None:
            return self.publish_dir
        return self._confine(directory, "dir", [self.publish_dir] if self.publish_dir else [], "--publish-dir")

    def weights_source(self, path) -> str:
        roots = ([self.publish_dir] if self.publish_dir else []) + self.read_dirs
        return self._confine(path, "path", roots, "--publish-dir or --read-dir")
