"""What `ivr serve` is told: folders, stores, limits, keys. Plain data so tests build it directly.

The keys come from ivr.settings (`IVR_*`), which `ivr serve` reads once; built here without
them, a server mounts no gateway that needs a secret and serves no dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.adapters.base import Adapter
from ivr.bootstrap import Project
from ivr.directory.port import CustomerDirectory
from ivr.settings import Settings

WEBHOOK_SECRET_ENV = "IVR_WEBHOOK_SECRET"
ADMIN_KEY_ENV = "IVR_ADMIN_KEY"
REPORTS_KEY_ENV = "IVR_REPORTS_KEY"


@dataclass(frozen=True)
class ServeSettings:
    project: Project = field(default_factory=Project)
    directory: str | CustomerDirectory = "var/demo-directory.db"
    redis_url: str | None = None  # None: in-memory call state (one process)
    redis_prefix: str = "ivr:"
    redis_client: str = "auto"  # auto, resp (lean, one server) or redis-py (ivr.sessions)
    journal_url: str | None = "sqlite:///var/journal.db"  # None: no journal
    public_url: str | None = None  # what gateways call us by, behind a proxy
    max_body: int = 64 * 1024
    header_timeout_s: float = 5.0  # a connection's first request head (slow-loris)
    body_timeout_s: float = 5.0  # a request body, whole
    keepalive_s: float = 75.0  # idle between requests on a kept-alive connection
    max_connections: int | None = None  # None: the descriptor limit less a reserve
    response_deadline_s: float = 3.5  # every webhook answered within 4 s, with margin
    operation_deadline_s: float = 2.0  # one directory lookup or verification
    lock_wait_s: float = 3.0
    drain_limit_s: float = 30.0
    session_ttl_s: int = 3600
    webhook_secret: str | None = None
    admin_key: str | None = None
    reports_key: str | None = None
    env: Settings = field(default_factory=Settings.defaults)  # the other IVR_* settings
    prompts_build: Path = Path("var/prompts-build")  # built audio served at /prompts/
    adapters: Sequence[Adapter] | None = None  # None: every adapter that can be configured
    tokens_once: bool = True  # a visual-IVR token is accepted once
