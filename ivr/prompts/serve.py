"""Serving built prompts to gateways: `/prompts/<language>/<id>.wav` and `.ulaw.wav`.

Gateways fetch the same prompt on every call, so responses carry the content's sha256 as a
strong ETag and a short `Cache-Control` max-age; a gateway revalidating with `If-None-Match`
gets 304 and no body. Only files listed in the build manifest are served, looked up by exact
URL path in a dictionary, so no request path ever reaches the filesystem (no traversal).
Files are read once, when the routes are created (prompts are small); rebuild and restart, or
call `PromptFiles.reload()`, to serve a new build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ivr.prompts.manifest import Manifest

URL_PREFIX = "/prompts"
CACHE_CONTROL = "public, max-age=300"  # gateways re-check every 5 minutes; ETag makes it cheap
CONTENT_TYPE = "audio/wav"


@dataclass(frozen=True, slots=True)
class _Served:
    body: bytes
    sha256: str


class PromptFiles:
    """The files of one build directory, in memory, by URL path (`en-GB/welcome.wav`)."""

    def __init__(self, build_dir: Path) -> None:
        self.build_dir = build_dir
        self._files: dict[str, _Served] = {}
        self.reload()

    def reload(self) -> None:
        """Re-read the manifest and its files (blocking: call at startup or in a thread)."""
        files: dict[str, _Served] = {}
        for path, built in Manifest.load(self.build_dir).files_by_path().items():
            body = (self.build_dir / path).read_bytes()
            files[path] = _Served(body=body, sha256=built.sha256)
        self._files = files

    def get(self, path: str) -> _Served | None:
        return self._files.get(path)

    def __len__(self) -> int:
        return len(self._files)


def create_prompt_routes(
    manifest_dir: Path, prefix: str = URL_PREFIX, files: PromptFiles | None = None
) -> list[web.RouteDef]:
    """Routes serving the build in `manifest_dir` (GET and HEAD) under `prefix`."""
    served = files if files is not None else PromptFiles(manifest_dir)

    async def handle(request: web.Request) -> web.StreamResponse:
        found = served.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound(text="no such prompt\n")
        headers = {"Cache-Control": CACHE_CONTROL}
        if any(
            tag.value == found.sha256 or tag.value == "*" for tag in request.if_none_match or ()
        ):
            response = web.Response(status=304, headers=headers)
        else:
            response = web.Response(body=found.body, content_type=CONTENT_TYPE, headers=headers)
        response.etag = found.sha256
        return response

    return [web.get(f"{prefix}/{{path:.+}}", handle)]
