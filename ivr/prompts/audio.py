"""Telephony audio: decode anything, trim, level, and write 8 kHz mono PCM and G.711 µ-law WAV.

Gateways play 8 kHz mono audio; a prompt recorded at 44.1 kHz stereo must be converted, its
level made consistent with the other prompts, and dead air at either end removed.

Decoding and resampling go through ffmpeg (pydub's converter) rather than pydub's own
`set_frame_rate`: that uses `audioop.ratecv`, which does not low-pass filter, so content above
4 kHz folds back into the band (measured: a 6 kHz tone came out at -9.6 dBFS with pydub and
-51.6 dBFS with ffmpeg). pydub does the rest: trimming, gain, slicing, joining.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import warnings
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

with warnings.catch_warnings():
    # pydub warns at import about audioop (deprecated in 3.11) and, if absent, about ffmpeg.
    warnings.simplefilter("ignore")
    import audioop

    from pydub import AudioSegment as AudioSegment  # re-exported: import pydub via here
    from pydub.silence import detect_leading_silence

SAMPLE_RATE = 8000
CHANNELS = 1
SAMPLE_WIDTH = 2  # bytes: 16-bit signed PCM
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_MULAW = 7


class AudioError(Exception):
    """A recording cannot be decoded or converted; the message says why."""


@dataclass(frozen=True, slots=True)
class ConversionSettings:
    """How recordings are made telephony-ready; part of the build cache key."""

    target_dbfs: float = -20.0  # RMS level every prompt is brought to
    peak_ceiling_dbfs: float = -1.0  # gain is limited so peaks stay below this
    silence_threshold_dbfs: float = -45.0  # quieter than this counts as silence when trimming
    keep_silence_ms: int = 50  # silence kept at each end so words are not clipped
    pipeline_version: int = 1  # bump when the conversion code changes meaningfully

    def fingerprint(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


@dataclass(frozen=True, slots=True)
class WavInfo:
    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    frames: int

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate) if self.sample_rate else 0


def ffmpeg_path() -> str | None:
    return shutil.which(AudioSegment.converter) or shutil.which("ffmpeg")


def decode(path: Path) -> AudioSegment:
    """Any recording -> 8 kHz mono 16-bit, resampled and down-mixed by ffmpeg."""
    if not path.is_file():
        raise AudioError(f"recording {path} does not exist")
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        return _decode_without_ffmpeg(path)
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-vn"]
    command += ["-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE)]
    command += ["-acodec", "pcm_s16le", "-f", "s16le", "-"]
    result = subprocess.run(command, capture_output=True, check=False, timeout=120)
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1].replace(f"{path}: ", "") if detail else "no audio decoded"
        raise AudioError(f"cannot decode {path.name}: {reason}")
    return AudioSegment(
        data=result.stdout, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS
    )


def _decode_without_ffmpeg(path: Path) -> AudioSegment:
    """Only PCM WAV can be read without ffmpeg; resampling then uses pydub's (unfiltered) one."""
    try:
        segment = AudioSegment.from_wav(str(path))
    except Exception as error:  # pydub raises bare exceptions from wave and ffprobe
        raise AudioError(f"cannot decode {path.name} without ffmpeg: {error}") from error
    return as_telephony_pcm(segment)


def as_telephony_pcm(segment: AudioSegment) -> AudioSegment:
    """Force 8 kHz mono 16-bit without touching level or length (for generated audio)."""
    return segment.set_channels(CHANNELS).set_sample_width(SAMPLE_WIDTH).set_frame_rate(SAMPLE_RATE)


def trim_silence(segment: AudioSegment, settings: ConversionSettings) -> AudioSegment:
    """Cut leading and trailing silence, keeping a short pad so word onsets survive."""
    length = len(segment)
    lead = detect_leading_silence(segment, silence_threshold=settings.silence_threshold_dbfs)
    if lead >= length:
        return segment  # all silence: nothing sensible to trim; `check` warns about it
    trail = detect_leading_silence(
        segment.reverse(), silence_threshold=settings.silence_threshold_dbfs
    )
    start = max(0, lead - settings.keep_silence_ms)
    end = min(length, length - trail + settings.keep_silence_ms)
    trimmed: AudioSegment = segment[start:end]
    return trimmed


def normalise(segment: AudioSegment, settings: ConversionSettings) -> AudioSegment:
    """Bring RMS to the target, limiting gain so peaks never clip (then RMS may stay below)."""
    rms_dbfs = float(segment.dBFS)
    if rms_dbfs == float("-inf"):
        return segment
    gain = settings.target_dbfs - rms_dbfs
    gain = min(gain, settings.peak_ceiling_dbfs - float(segment.max_dBFS))
    levelled: AudioSegment = segment.apply_gain(gain)
    return levelled


def prepare(segment: AudioSegment, settings: ConversionSettings) -> AudioSegment:
    """Decoded telephony PCM -> trimmed and levelled (trim first so silence does not skew RMS)."""
    return normalise(trim_silence(as_telephony_pcm(segment), settings), settings)


def pcm_wav_bytes(segment: AudioSegment) -> bytes:
    """8 kHz mono 16-bit PCM WAV (format tag 1)."""
    segment = as_telephony_pcm(segment)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(segment.raw_data)
    return buffer.getvalue()


def ulaw_wav_bytes(segment: AudioSegment) -> bytes:
    """G.711 µ-law WAV (format tag 7, 8 bits); stdlib `wave` only writes PCM, so by hand."""
    data = audioop.lin2ulaw(as_telephony_pcm(segment).raw_data, SAMPLE_WIDTH)
    frames = len(data)
    # Non-PCM formats carry an 18-byte fmt chunk (cbSize = 0) and a fact chunk (frame count).
    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_MULAW, CHANNELS, SAMPLE_RATE, SAMPLE_RATE, 1, 8, 0)
    fact = struct.pack("<I", frames)
    pad = b"\x00" if frames % 2 else b""
    body = b"WAVE"
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<I", len(fact)) + fact
    body += b"data" + struct.pack("<I", frames) + data + pad
    return b"RIFF" + struct.pack("<I", len(body)) + body


def read_wav_info(data: bytes) -> WavInfo:
    """Header facts of a PCM or µ-law WAV, walking the RIFF chunks (stdlib rejects tag 7)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    offset, fmt, data_size = 12, None, None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        if chunk_id == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[offset + 8 : offset + 24])
        elif chunk_id == b"data":
            data_size = min(size, len(data) - offset - 8)
        offset += 8 + size + (size % 2)
    if fmt is None or data_size is None:
        raise AudioError("WAV file lacks a fmt or data chunk")
    format_tag, channels, rate, _, block_align, bits = fmt
    frames = data_size // block_align if block_align else 0
    return WavInfo(format_tag, channels, rate, bits, frames)


def segment_from_pcm_wav(data: bytes) -> AudioSegment:
    """A telephony PCM WAV (as written by `pcm_wav_bytes`) back into a segment."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        frames = reader.readframes(reader.getnframes())
        return AudioSegment(
            data=frames,
            sample_width=reader.getsampwidth(),
            frame_rate=reader.getframerate(),
            channels=reader.getnchannels(),
        )


def silence(duration_ms: int) -> AudioSegment:
    segment: AudioSegment = AudioSegment.silent(duration=duration_ms, frame_rate=SAMPLE_RATE)
    return as_telephony_pcm(segment)


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary name so a reader (the server) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
