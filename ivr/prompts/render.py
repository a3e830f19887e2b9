"""Turn `PromptRef`s into telephony audio: the recording where there is one, speech otherwise.

Used to listen to things offline (readbacks, a simulated call); both paths go through the same
trimming and levelling as `ivr prompts build`, so what you hear is what a caller would hear.
Speech is cached on disk by text, voice and espeak-ng version when a cache directory is given.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from ivr.engine.actions import PromptRef
from ivr.prompts.audio import (
    AudioSegment,
    ConversionSettings,
    decode,
    pcm_wav_bytes,
    prepare,
    segment_from_pcm_wav,
    silence,
    write_atomic,
)
from ivr.prompts.build import content_hash
from ivr.prompts.espeak import espeak_version, synthesize, voice_for


class PromptAudio:
    """Audio for the prompts of one language, memoised for the life of the object."""

    def __init__(
        self,
        prompts_root: Path,
        language: str,
        *,
        cache_dir: Path | None = None,
        settings: ConversionSettings | None = None,
    ) -> None:
        self.prompts_root = prompts_root
        self.language = language
        self.voice = voice_for(language)
        self.cache_dir = cache_dir
        self.settings = settings or ConversionSettings()
        self._memo: dict[tuple[str, str], AudioSegment] = {}

    def for_ref(self, ref: PromptRef) -> AudioSegment:
        """The prompt as played: its recording, else its (already filled) text spoken."""
        if ref.audio is not None:
            return self.recording(ref.audio)
        return self.speech(ref.text)

    def recording(self, audio: str) -> AudioSegment:
        """`audio` is relative to the prompts root, as in `PromptRef.audio`."""
        key = ("recording", audio)
        if key not in self._memo:
            self._memo[key] = prepare(decode(self.prompts_root / audio), self.settings)
        return self._memo[key]

    def speech(self, text: str) -> AudioSegment:
        key = ("speech", text)
        if key in self._memo:
            return self._memo[key]
        segment = silence(0) if not text.strip() else self._cached_speech(text)
        self._memo[key] = segment
        return segment

    def _cached_speech(self, text: str) -> AudioSegment:
        digest = content_hash(
            b"speech",
            self.settings.fingerprint(),
            self.voice.encode(),
            espeak_version().encode(),
            text.encode(),
        )
        cached = self.cache_dir / f"{digest}.wav" if self.cache_dir else None
        if cached is not None and cached.is_file():
            return segment_from_pcm_wav(cached.read_bytes())
        with tempfile.TemporaryDirectory(prefix="ivr-speech-") as folder:
            raw = Path(folder) / "speech.wav"
            synthesize(text, self.voice, raw)
            segment = prepare(decode(raw), self.settings)
        if cached is not None:
            write_atomic(cached, pcm_wav_bytes(segment))
        return segment


def join(segments: Iterable[AudioSegment], gap_ms: int = 0) -> AudioSegment:
    """Concatenate telephony segments, optionally with silence between them."""
    result = silence(0)
    for index, segment in enumerate(segments):
        if index and gap_ms:
            result += silence(gap_ms)
        result += segment
    return result


def render_prompts(
    refs: Iterable[PromptRef], audio: PromptAudio, out_path: Path, gap_ms: int = 0
) -> int:
    """Write the prompts, one after another, to one 8 kHz mono 16-bit WAV; returns its ms."""
    combined = join((audio.for_ref(ref) for ref in refs), gap_ms)
    write_atomic(out_path, pcm_wav_bytes(combined))
    return len(combined)
