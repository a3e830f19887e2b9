"""The prompt catalogue: prompt ids -> per-language text and optional recording.

Flows name prompts by id only; `prompts/<language>/catalog.yaml` holds the words. A prompt
without a recording is spoken from its text. Text may hold placeholders such as
`{customer_name}`, filled from call data when the prompt is played.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CATALOG_NAME = "catalog.yaml"
FRAGMENTS_DIR = "fragments"  # prompts/<language>/fragments/digit_4.wav and friends
# Recording formats accepted (ffmpeg decodes them all); a fragment may use any of them.
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff")


@dataclass(frozen=True, slots=True)
class PromptRef:
    """One prompt to play: its id, the text resolved for the call's language, and audio if any."""

    prompt_id: str
    text: str
    audio: str | None = None  # path relative to the prompts/ tree, or None: speak the text


class CatalogError(Exception):
    """A catalogue file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class PromptEntry:
    prompt_id: str
    language: str
    text: str
    audio: str | None  # path relative to the prompts root, e.g. "en-GB/welcome.wav"
    line: int  # line of the prompt id in catalog.yaml, for error messages
    placeholders: frozenset[str] = frozenset()


@dataclass
class PromptCatalog:
    """All languages' prompts; `root` is the prompts/ directory."""

    root: Path
    entries: dict[str, dict[str, PromptEntry]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> PromptCatalog:
        catalog = cls(root=root)
        for path in sorted(root.glob(f"*/{CATALOG_NAME}")):
            language = path.parent.name
            catalog.entries[language] = _load_language(path, language)
        return catalog

    @property
    def languages(self) -> list[str]:
        return sorted(self.entries)

    def has(self, prompt_id: str, language: str) -> bool:
        return prompt_id in self.entries.get(language, {})

    def catalog_file(self, language: str) -> Path:
        """Where a language's catalogue lives (for `file:line` messages)."""
        return self.root / language / CATALOG_NAME

    def fragments(self, language: str) -> dict[str, Path]:
        """Readback fragments recorded for a language: name (e.g. `digit_4`) -> file."""
        folder = self.root / language / FRAGMENTS_DIR
        if not folder.is_dir():
            return {}
        found: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
                found.setdefault(path.stem, path)
        return found

    def ids(self, language: str) -> set[str]:
        return set(self.entries.get(language, {}))

    def get(self, prompt_id: str, language: str) -> PromptEntry:
        try:
            return self.entries[language][prompt_id]
        except KeyError as error:
            raise KeyError(f"no prompt {prompt_id!r} in language {language!r}") from error

    def resolve(
        self, prompt_id: str, language: str, values: dict[str, str] | None = None
    ) -> PromptRef:
        """The prompt to play, placeholders filled; an unknown placeholder value stays empty."""
        entry = self.get(prompt_id, language)
        text = entry.text
        if entry.placeholders:
            known = values or {}
            text = text.format_map({name: known.get(name, "") for name in entry.placeholders})
        return PromptRef(prompt_id=prompt_id, text=text, audio=entry.audio)


def _placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def _load_language(path: Path, language: str) -> dict[str, PromptEntry]:
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"{path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise CatalogError(f"{path}: expected a mapping with a 'prompts' mapping")
    lines = _key_lines(root)
    entries: dict[str, PromptEntry] = {}
    for prompt_id, body in data["prompts"].items():
        line = lines.get(str(prompt_id), 0)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise CatalogError(f"{path}:{line}: prompt {prompt_id!r} needs a 'text'")
        audio = body.get("audio")
        if audio is not None and not isinstance(audio, str):
            raise CatalogError(f"{path}:{line}: prompt {prompt_id!r}: 'audio' must be a file name")
        text = body["text"]
        try:
            placeholders = _placeholders(text)
        except ValueError as error:
            raise CatalogError(f"{path}:{line}: prompt {prompt_id!r}: {error}") from error
        entries[str(prompt_id)] = PromptEntry(
            prompt_id=str(prompt_id),
            language=language,
            text=text,
            audio=f"{language}/{audio}" if audio else None,
            line=line,
            placeholders=placeholders,
        )
    return entries


def _key_lines(root: yaml.Node | None) -> dict[str, int]:
    """Line (1-based) of each prompt id under the top-level 'prompts' mapping."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "prompts" and isinstance(value, yaml.MappingNode):
            return {k.value: k.start_mark.line + 1 for k, _ in value.value}
    return {}
