"""`ivr prompts check`: catch prompt problems before callers hear them.

Errors (exit 1): a flow uses a prompt missing from one of its languages, a flow language has no
catalogue, a recording is missing or does not decode. Warnings: prompts no flow uses,
placeholders the engine cannot fill, silent or low-rate recordings, recordings changed since
the last build. Notes list the prompts still spoken by machine ("spoken (no recording)", or
"placeholder audio" once `ivr prompts tts` made some). Every message starts with `file:line:`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ivr.engine.operations import BUILTIN_SPECS
from ivr.prompts.audio import SAMPLE_RATE, AudioError, decode, ffmpeg_path
from ivr.prompts.catalog import CatalogError, PromptCatalog, PromptEntry
from ivr.prompts.manifest import Manifest
from ivr.prompts.usage import FlowPrompts, FlowReadError, read_flow_prompts

# Call values the engine passes to `PromptCatalog.resolve` (see ivr/engine/runtime.py): the
# customer's name and the values operations set (OperationSpec.values).
FILLABLE_PLACEHOLDERS = frozenset({"customer_name"}).union(
    *(spec.values for spec in BUILTIN_SPECS.values())
)
# Spoken by the gateway's voice only: a recording can never say them (and must never hold one).
SPOKEN_ONLY = frozenset({"secret"})
SILENT_DBFS = -60.0


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_prompts(
    prompts_dir: Path,
    flows_dir: Path,
    build_dir: Path | None = None,
    fillable: frozenset[str] = FILLABLE_PLACEHOLDERS,
) -> CheckReport:
    report = CheckReport()
    try:
        catalog = PromptCatalog.load(prompts_dir)
    except CatalogError as error:
        report.errors.append(str(error))
        return report
    flows = _read_flows(flows_dir, report)
    used = _check_flow_prompts(catalog, flows, report)
    manifest = Manifest.load(build_dir) if build_dir is not None else Manifest()
    for language in catalog.languages:
        for entry in catalog.entries[language].values():
            where = f"{catalog.catalog_file(language)}:{entry.line}"
            if entry.prompt_id not in used:
                report.warnings.append(f"{where}: prompt {entry.prompt_id!r} is used by no flow")
            unfillable = sorted(entry.placeholders - fillable)
            if unfillable:
                names = ", ".join(f"{{{name}}}" for name in unfillable)
                report.warnings.append(
                    f"{where}: prompt {entry.prompt_id!r}: the engine cannot fill {names}; "
                    f"it knows {', '.join(sorted(fillable))}"
                )
            if entry.audio is not None and entry.placeholders & SPOKEN_ONLY:
                report.errors.append(
                    f"{where}: prompt {entry.prompt_id!r} says the callback secret: it must be"
                    " spoken by the gateway, remove its `audio`"
                )
            if entry.audio is None:
                built = manifest.get(language, entry.prompt_id)
                kind = (
                    "placeholder audio" if built and built.placeholder else "spoken (no recording)"
                )
                report.notes.append(f"{where}: {language} {entry.prompt_id}: {kind}")
            else:
                _check_recording(catalog.root, entry, where, manifest, build_dir, report)
        for name, path in catalog.fragments(language).items():
            _check_audio_file(path, f"{path}:1", f"fragment {name!r}", report)
    return report


def _read_flows(flows_dir: Path, report: CheckReport) -> list[FlowPrompts]:
    # Same rule as the flow loader: `*.test.yaml` beside a flow holds its test cases.
    candidates = [*flows_dir.glob("*.yaml"), *flows_dir.glob("*.yml")]
    paths = sorted(
        path for path in candidates if not path.name.endswith((".test.yaml", ".test.yml"))
    )
    if not paths:
        report.warnings.append(f"{flows_dir}:1: no flow files found")
    flows = []
    for path in paths:
        try:
            flows.append(read_flow_prompts(path))
        except FlowReadError as error:
            report.errors.append(str(error))
    return flows


def _check_flow_prompts(
    catalog: PromptCatalog, flows: list[FlowPrompts], report: CheckReport
) -> set[str]:
    used: set[str] = set()
    for flow in flows:
        used.update(flow.prompts)
        for language in flow.languages:
            catalog_file = catalog.catalog_file(language)
            if language not in catalog.entries:
                report.errors.append(
                    f"{flow.path}:{flow.languages_line}: language {language!r} has no "
                    f"catalogue ({catalog_file})"
                )
                continue
            for prompt_id, line in flow.prompts.items():
                if not catalog.has(prompt_id, language):
                    report.errors.append(
                        f"{flow.path}:{line}: prompt {prompt_id!r} is not in the {language} "
                        f"catalogue ({catalog_file})"
                    )
    return used


def _check_recording(
    root: Path,
    entry: PromptEntry,
    where: str,
    manifest: Manifest,
    build_dir: Path | None,
    report: CheckReport,
) -> None:
    assert entry.audio is not None
    path = root / entry.audio
    if not _check_audio_file(path, where, f"prompt {entry.prompt_id!r}", report):
        return
    built = manifest.get(entry.language, entry.prompt_id)
    if build_dir is None or not manifest.entries:
        return
    if (
        built is None
        or built.placeholder
        or built.source_sha256 != hashlib.sha256(path.read_bytes()).hexdigest()
    ):
        report.warnings.append(
            f"{where}: prompt {entry.prompt_id!r}: recording changed since the last build; "
            f"run `ivr prompts build`"
        )


def _check_audio_file(path: Path, where: str, what: str, report: CheckReport) -> bool:
    """Decode the recording to telephony format; False (with an error) if that fails."""
    if not path.is_file():
        report.errors.append(f"{where}: {what}: recording {path} not found")
        return False
    try:
        segment = decode(path)
    except AudioError as error:
        report.errors.append(f"{where}: {what}: {error}")
        return False
    if len(segment) == 0:
        report.errors.append(f"{where}: {what}: recording {path.name} has no audio")
        return False
    if float(segment.dBFS) < SILENT_DBFS:
        report.warnings.append(f"{where}: {what}: recording {path.name} is silent")
    rate = _source_rate(path)
    if rate is not None and rate < SAMPLE_RATE:
        report.warnings.append(
            f"{where}: {what}: recording {path.name} is {rate} Hz, below telephony's "
            f"{SAMPLE_RATE} Hz; it will sound muffled"
        )
    return True


def _source_rate(path: Path) -> int | None:
    if ffmpeg_path() is None:
        return None
    from pydub.utils import mediainfo

    try:
        return int(mediainfo(str(path)).get("sample_rate", 0)) or None
    except (ValueError, OSError):
        return None
