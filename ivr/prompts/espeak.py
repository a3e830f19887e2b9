"""Placeholder speech with espeak-ng, so a flow is audible before a voice artist records it.

espeak-ng is always run without a shell, reads the text on stdin (so text starting with "-"
is never taken for an option) and writes a file with `-w`: its `--stdout` WAV header claims
about 10^9 frames, which stdlib `wave` believes.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
from pathlib import Path

ESPEAK = "espeak-ng"
TIMEOUT_S = 60.0

# BCP 47 tags we use -> espeak-ng voice names, where lowercasing the tag is not enough.
VOICE_OVERRIDES: dict[str, str] = {
    "en-GB": "en-gb",
    "en-US": "en-us",
    "en-IE": "en-gb",
    "en-AU": "en-gb",
    "fr-FR": "fr-fr",
    "fr-CA": "fr-fr",
    "es-ES": "es",
    "es-MX": "es-419",
    "de-DE": "de",
    "it-IT": "it",
    "nl-NL": "nl",
    "pt-PT": "pt",
    "pt-BR": "pt-br",
    "pl-PL": "pl",
    "cy-GB": "cy",
    "ga-IE": "ga",
}


class SpeechError(Exception):
    """espeak-ng is missing, rejected the voice, or failed."""


def espeak_path() -> str | None:
    return shutil.which(ESPEAK)


@functools.cache
def available_voices() -> frozenset[str]:
    """Voice names espeak-ng knows (empty when espeak-ng is not installed)."""
    binary = espeak_path()
    if binary is None:
        return frozenset()
    result = subprocess.run(
        [binary, "--voices"], capture_output=True, text=True, check=False, timeout=TIMEOUT_S
    )
    lines = result.stdout.splitlines()[1:]
    return frozenset(line.split()[1] for line in lines if len(line.split()) > 1)


@functools.cache
def espeak_version() -> str:
    """Part of the speech cache key: a new espeak-ng may pronounce differently."""
    binary = espeak_path()
    if binary is None:
        return "missing"
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=TIMEOUT_S
    )
    return result.stdout.strip()


def voice_for(language: str) -> str:
    """en-GB -> en-gb; unknown tags fall back to the lower-cased tag, then its language part."""
    if language in VOICE_OVERRIDES:
        return VOICE_OVERRIDES[language]
    voices = available_voices()
    for candidate in (language.lower(), language.split("-")[0].lower()):
        if candidate in voices:
            return candidate
    return language.lower()


def _command(voice: str, out_path: Path) -> list[str]:
    binary = espeak_path()
    if binary is None:
        raise SpeechError("espeak-ng is not installed (Debian package espeak-ng)")
    return [binary, "-v", voice, "-b", "1", "-w", str(out_path), "--stdin"]


def _check(returncode: int, stderr: bytes, voice: str, out_path: Path) -> None:
    if returncode != 0 or not out_path.is_file():
        reason = stderr.decode(errors="replace").strip() or f"exit status {returncode}"
        raise SpeechError(f"espeak-ng (voice {voice}) failed: {reason}")


def synthesize(text: str, voice: str, out_path: Path) -> None:
    """Speak `text` into a 22.05 kHz WAV at `out_path` (blocking; for CLI and threads)."""
    result = subprocess.run(
        _command(voice, out_path),
        input=text.encode(),
        capture_output=True,
        check=False,
        timeout=TIMEOUT_S,
    )
    _check(result.returncode, result.stderr, voice, out_path)


async def synthesize_async(text: str, voice: str, out_path: Path) -> None:
    """As `synthesize`, for code running on the event loop."""
    process = await asyncio.create_subprocess_exec(
        *_command(voice, out_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(text.encode()), TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SpeechError(f"espeak-ng (voice {voice}) timed out") from None
    _check(process.returncode or 0, stderr, voice, out_path)
