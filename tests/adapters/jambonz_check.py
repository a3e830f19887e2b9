"""Both jambonz validators: the feature-server's own (npm) and jambonz-python-sdk's schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from jambonz_sdk.validator import JambonzValidator  # type: ignore[import-untyped]

NODE_DIR = Path(__file__).parent / "node"


@cache
def _schema() -> JambonzValidator:
    return JambonzValidator()


def verb_specifications(documents: list[list[dict[str, Any]]]) -> list[str | None]:
    """@jambonz/verb-specifications' verdict per document: None when valid, else the error."""
    node = shutil.which("node")
    assert node, "node is required (see .ci/run)"
    assert (NODE_DIR / "node_modules" / "@jambonz" / "verb-specifications").is_dir(), (
        "run `npm ci` in tests/adapters/node (see .ci/run)"
    )
    done = subprocess.run(
        [node, "validate.mjs"],
        input=json.dumps(documents).encode(),
        cwd=NODE_DIR,
        capture_output=True,
        check=True,
        timeout=60,
    )
    results: list[str | None] = json.loads(done.stdout)
    return results


def json_schema(document: list[dict[str, Any]]) -> list[str]:
    """jambonz-python-sdk's JSON-schema errors for one document (empty: valid)."""
    errors: list[str] = _schema().validate_app(document)
    return errors
