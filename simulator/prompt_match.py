"""Prompt ids read back from what a gateway document says: an audio URL or spoken text.

Gateway documents (TwiML, jambonz verbs) carry no prompt ids: a recording is played from
`/prompts/<language>/<id>.wav` and the rest is text-to-speech. The remote drivers need the
ids to check the prompts a case expects, so they match the URL's file name, or the text
against the catalogue's templates (placeholders such as `{customer_name}` match anything).
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

from ivr.bootstrap import Project
from ivr.config import AppConfig, ConfigError, load_config
from ivr.engine.actions import PromptRef
from ivr.prompts.catalog import CatalogError, PromptCatalog


def project_files(project: Project) -> tuple[AppConfig | None, PromptCatalog | None]:
    """The config and prompt catalogue, or None for whichever cannot be loaded."""
    try:
        config: AppConfig | None = load_config(project.config)
    except (ConfigError, OSError):
        config = None
    try:
        catalog: PromptCatalog | None = PromptCatalog.load(project.prompts)
    except (CatalogError, OSError):
        catalog = None
    return config, catalog


class PromptMatcher:
    """Finds catalogue ids; without a catalogue, a prompt is named by its text or file."""

    def __init__(self, catalog: PromptCatalog | None) -> None:
        self.catalog = catalog

    def from_audio_url(self, url: str) -> PromptRef:
        """`https://host/prompts/en-GB/welcome.wav` -> the prompt `welcome` and its text."""
        audio = urlsplit(url).path.split("/prompts/", 1)[-1]
        language, _, file = audio.rpartition("/")
        name = file.rsplit(".", 1)[0]
        spoken = name
        if self.catalog is not None and self.catalog.has(name, language):
            spoken = self.catalog.get(name, language).text
        return PromptRef(name, spoken, audio=audio)

    def from_text(self, text: str, language: str = "") -> PromptRef:
        """The catalogue id whose text (placeholders filled) is `text`; else the text itself."""
        for prompt_id, pattern in self._patterns(language):
            if pattern.fullmatch(text):
                return PromptRef(prompt_id, text)
        return PromptRef(text, text)

    def split_text(self, text: str, language: str = "") -> tuple[PromptRef, ...]:
        """Several prompts spoken as one string (joined by a space) back into their ids."""
        found = self._split(text.strip(), language)
        return found if found is not None else (PromptRef(text, text),)

    def _split(self, text: str, language: str) -> tuple[PromptRef, ...] | None:
        for prompt_id, pattern in self._patterns(language):
            whole = pattern.fullmatch(text)
            if whole is not None:
                return (PromptRef(prompt_id, text),)
        for prompt_id, pattern in self._patterns(language):
            for cut in _spaces(text):
                if pattern.fullmatch(text[:cut]):
                    rest = self._split(text[cut + 1 :], language)
                    if rest is not None:
                        return (PromptRef(prompt_id, text[:cut]), *rest)
        return None

    def _patterns(self, language: str) -> list[tuple[str, re.Pattern[str]]]:
        if self.catalog is None:
            return []
        languages = [language] if language in self.catalog.languages else self.catalog.languages
        return [
            (prompt_id, _pattern(self.catalog.get(prompt_id, lang).text.strip()))
            for lang in languages
            for prompt_id in sorted(self.catalog.ids(lang))
        ]


def _spaces(text: str) -> list[int]:
    return [index for index, char in enumerate(text) if char == " "]


@cache
def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(
        "".join(
            ".*?" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^{}]*\})", template)
        ),
        re.DOTALL,
    )
