"""What `ivr serve` is told: folders, stores, limits. Plain data so tests build it directly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ivr.adapters.base import Adapter
from ivr.bootstrap import Project
from ivr.directory.port import CustomerDirectory

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
    response_deadline_s: float = 3.5  # every webhook answered within 4 s, with margin
    operation_deadline_s: float = 2.0  # one directory lookup or verification
    lock_wait_s: float = 3.0
    drain_limit_s: float = 30.0
    session_ttl_s: int = 3600
    webhook_secret: str | None = field(default_factory=lambda: os.environ.get(WEBHOOK_SECRET_ENV))
    admin_key: str | None = field(default_factory=lambda: os.environ.get(ADMIN_KEY_ENV))
    reports_key: str | None = field(default_factory=lambda: os.environ.get(REPORTS_KEY_ENV))
    prompts_build: Path = Path("var/prompts-build")  # built audio served at /prompts/
    adapters: Sequence[Adapter] | None = None  # None: every adapter that can be configured
    tokens_once: bool = True  # a visual-IVR token is accepted once
