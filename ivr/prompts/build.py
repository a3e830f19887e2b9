"""`ivr prompts build` and `ivr prompts tts`: telephony files for every prompt, cached by hash.

Each output pair (PCM and µ-law WAV) is stored in `<out>/.cache/` under the sha256 of the
input (recording bytes, or text + voice + espeak-ng version) and the conversion settings, so
rebuilding after editing one prompt converts one prompt. Results are then published under
`<out>/<language>/<id>.wav` and `.ulaw.wav` and listed in `<out>/manifest.json`.
"""

from __future__ import annotations

import hashlib
import os
import string
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ivr.prompts.audio import (
    AudioError,
    AudioSegment,
    ConversionSettings,
    decode,
    pcm_wav_bytes,
    prepare,
    read_wav_info,
    ulaw_wav_bytes,
    write_atomic,
)
from ivr.prompts.catalog import FRAGMENTS_DIR, PromptCatalog
from ivr.prompts.espeak import SpeechError, espeak_version, synthesize, voice_for
from ivr.prompts.manifest import (
    PCM_SUFFIX,
    ULAW_SUFFIX,
    BuiltFile,
    Manifest,
    ManifestEntry,
    output_stem,
)

DEFAULT_BUILD_DIR = Path("var/prompts-build")
CACHE_DIR = ".cache"


@dataclass
class BuildReport:
    converted: int = 0
    cached: int = 0
    errors: list[str] = field(default_factory=list)
    manifest_path: Path | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    language: str
    prompt_id: str
    source: str  # manifest `source`
    source_sha256: str
    cache_key: str
    make: Callable[[], AudioSegment]
    where: str  # `file:line` for error messages


def content_hash(*parts: bytes) -> str:
    """sha256 over length-prefixed parts, so (b"ab", b"c") and (b"a", b"bc") differ."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def spoken_text(text: str) -> str:
    """Catalogue text for placeholder speech: `{customer_name}` is read as "customer name"."""
    pieces = []
    for literal, name, _, _ in string.Formatter().parse(text):
        pieces.append(literal)
        if name:
            pieces.append(name.replace("_", " ").replace(".", " "))
    return "".join(pieces)


def build_recordings(
    catalog: PromptCatalog, out_dir: Path, settings: ConversionSettings | None = None
) -> BuildReport:
    """Convert every catalogue recording and readback fragment; keep placeholders for the rest."""
    settings = settings or ConversionSettings()
    report = BuildReport()
    jobs: list[_Job] = []
    for language in catalog.languages:
        catalog_file = catalog.catalog_file(language)
        for entry in catalog.entries[language].values():
            if entry.audio is None:
                continue
            where = f"{catalog_file}:{entry.line}"
            path = catalog.root / entry.audio
            job = _recording_job(language, entry.prompt_id, path, entry.audio, where, settings)
            if isinstance(job, str):
                report.errors.append(f"{where}: prompt {entry.prompt_id!r}: {job}")
            else:
                jobs.append(job)
        for name, path in catalog.fragments(language).items():
            source = f"{language}/{FRAGMENTS_DIR}/{path.name}"
            job = _recording_job(
                language, f"{FRAGMENTS_DIR}/{name}", path, source, str(path), settings
            )
            if isinstance(job, str):
                report.errors.append(f"{path}: {job}")
            else:
                jobs.append(job)
    manifest = Manifest.load(out_dir)
    recorded = {(job.language, job.prompt_id) for job in jobs}
    for key, old in list(manifest.entries.items()):
        # Drop recordings no longer in the catalogue, and placeholders now recorded.
        if (not old.placeholder and key not in recorded) or (old.placeholder and key in recorded):
            del manifest.entries[key]
    _run(jobs, out_dir, manifest, report, placeholder=False)
    manifest.settings = asdict(settings)
    report.manifest_path = manifest.save(out_dir)
    return report


def build_placeholders(
    catalog: PromptCatalog, out_dir: Path, settings: ConversionSettings | None = None
) -> BuildReport:
    """Generate espeak-ng speech for every prompt that has no recording."""
    settings = settings or ConversionSettings()
    report = BuildReport()
    version = espeak_version()
    jobs: list[_Job] = []
    for language in catalog.languages:
        voice = voice_for(language)
        for entry in catalog.entries[language].values():
            if entry.audio is not None:
                continue
            text = spoken_text(entry.text)
            jobs.append(
                _Job(
                    language=language,
                    prompt_id=entry.prompt_id,
                    source=f"tts:{voice}",
                    source_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    cache_key=content_hash(
                        b"tts",
                        settings.fingerprint(),
                        voice.encode(),
                        version.encode(),
                        text.encode(),
                    ),
                    make=_speech_maker(text, voice, settings),
                    where=f"{catalog.catalog_file(language)}:{entry.line}",
                )
            )
    manifest = Manifest.load(out_dir)
    wanted = {(job.language, job.prompt_id) for job in jobs}
    for key, old in list(manifest.entries.items()):
        if old.placeholder and key not in wanted:
            del manifest.entries[key]
    _run(jobs, out_dir, manifest, report, placeholder=True)
    manifest.settings = asdict(settings)
    report.manifest_path = manifest.save(out_dir)
    return report


def _recording_job(
    language: str,
    prompt_id: str,
    path: Path,
    source: str,
    where: str,
    settings: ConversionSettings,
) -> _Job | str:
    """A conversion job, or the reason there cannot be one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"recording {source} not found"
    except OSError as error:
        return f"recording {source} cannot be read: {error.strerror}"
    return _Job(
        language=language,
        prompt_id=prompt_id,
        source=source,
        source_sha256=hashlib.sha256(data).hexdigest(),
        cache_key=content_hash(b"recording", settings.fingerprint(), data),
        make=lambda: prepare(decode(path), settings),
        where=where,
    )


def _speech_maker(
    text: str, voice: str, settings: ConversionSettings
) -> Callable[[], AudioSegment]:
    def make() -> AudioSegment:
        with tempfile.TemporaryDirectory(prefix="ivr-tts-") as folder:
            raw = Path(folder) / "speech.wav"
            synthesize(text, voice, raw)
            return prepare(decode(raw), settings)

    return make


def _run(
    jobs: list[_Job], out_dir: Path, manifest: Manifest, report: BuildReport, *, placeholder: bool
) -> None:
    """Convert uncached jobs in parallel (ffmpeg and espeak-ng run as processes), then publish."""
    cache = out_dir / CACHE_DIR

    def produce(job: _Job) -> tuple[_Job, bool, str | None]:
        pcm_path = cache / f"{job.cache_key}{PCM_SUFFIX}"
        ulaw_path = cache / f"{job.cache_key}{ULAW_SUFFIX}"
        if pcm_path.is_file() and ulaw_path.is_file():
            return job, True, None
        try:
            segment = job.make()
        except (AudioError, SpeechError) as error:
            return job, False, f"{job.where}: prompt {job.prompt_id!r}: {error}"
        if len(segment) == 0:
            return job, False, f"{job.where}: prompt {job.prompt_id!r}: recording has no audio"
        write_atomic(ulaw_path, ulaw_wav_bytes(segment))
        write_atomic(pcm_path, pcm_wav_bytes(segment))  # last: its presence marks completion
        return job, False, None

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(produce, jobs))
    for job, cached, error in results:
        if error is not None:
            report.errors.append(error)
            continue
        report.cached += cached
        report.converted += not cached
        manifest.entries[(job.language, job.prompt_id)] = _publish(job, out_dir, placeholder)


def _publish(job: _Job, out_dir: Path, placeholder: bool) -> ManifestEntry:
    stem = output_stem(job.language, job.prompt_id)
    files: dict[str, BuiltFile] = {}
    duration_ms = 0
    for kind, suffix in (("pcm", PCM_SUFFIX), ("ulaw", ULAW_SUFFIX)):
        data = (out_dir / CACHE_DIR / f"{job.cache_key}{suffix}").read_bytes()
        target = out_dir / f"{stem}{suffix}"
        digest = hashlib.sha256(data).hexdigest()
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            write_atomic(target, data)
        files[kind] = BuiltFile(path=f"{stem}{suffix}", sha256=digest, bytes=len(data))
        if kind == "pcm":
            duration_ms = read_wav_info(data).duration_ms
    return ManifestEntry(
        prompt_id=job.prompt_id,
        language=job.language,
        placeholder=placeholder,
        source=job.source,
        source_sha256=job.source_sha256,
        duration_ms=duration_ms,
        files=files,
    )
