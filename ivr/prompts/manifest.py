"""The build manifest: what `ivr prompts build`/`tts` produced, for the server and `check`.

`manifest.json` in the build directory lists each prompt's files with their sha256; the server
uses the hashes as ETags and `check` uses `placeholder` and `source_sha256` to say which prompts
are still machine speech and which recordings changed since the last build.

File paths in the manifest are also the URL paths under `/prompts/`:
`en-GB/welcome.wav`, `en-GB/welcome.ulaw.wav`, `en-GB/fragments/digit_4.wav`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ivr.prompts.audio import write_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
PCM_SUFFIX = ".wav"
ULAW_SUFFIX = ".ulaw.wav"


@dataclass(frozen=True, slots=True)
class BuiltFile:
    path: str  # relative to the build directory, '/'-separated; also the URL path
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    prompt_id: str  # catalogue id, or "fragments/<name>" for a readback fragment
    language: str
    placeholder: bool  # True: generated speech standing in for a recording
    source: str  # recording path under prompts/, or "tts:<voice>" for placeholders
    source_sha256: str  # hash of the recording bytes, or of the spoken text
    duration_ms: int
    files: dict[str, BuiltFile]  # "pcm" and "ulaw"

    @property
    def key(self) -> tuple[str, str]:
        return (self.language, self.prompt_id)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestEntry:
        files = {name: BuiltFile(**value) for name, value in data["files"].items()}
        return cls(**{**data, "files": files})


@dataclass
class Manifest:
    entries: dict[tuple[str, str], ManifestEntry] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, build_dir: Path) -> Manifest:
        """The manifest in `build_dir`, or an empty one if there is none yet."""
        path = build_dir / MANIFEST_NAME
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [ManifestEntry.from_json(item) for item in data.get("prompts", [])]
        return cls({entry.key: entry for entry in entries}, data.get("settings", {}))

    def save(self, build_dir: Path) -> Path:
        path = build_dir / MANIFEST_NAME
        ordered = sorted(self.entries.values(), key=lambda entry: entry.key)
        document = {
            "version": MANIFEST_VERSION,
            "settings": self.settings,
            "prompts": [entry.to_json() for entry in ordered],
        }
        write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())
        return path

    def get(self, language: str, prompt_id: str) -> ManifestEntry | None:
        return self.entries.get((language, prompt_id))

    def files_by_path(self) -> dict[str, BuiltFile]:
        return {f.path: f for entry in self.entries.values() for f in entry.files.values()}


def output_stem(language: str, prompt_id: str) -> str:
    """`en-GB/welcome` or `en-GB/fragments/digit_4`: where a prompt's files go."""
    return f"{language}/{prompt_id}"
