"""Real audio for the prompt tests, made with sox, ffmpeg and espeak-ng in a temporary tree."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

TONE_S = 1.5
PAD_S = 0.5

FLOW = """\
schema_version: 1
flow:
  id: demo
  version: "1"
  languages: [{languages}]
steps:
  - step: hello
    play: welcome
    next: ask
  - step: ask
    ask:
      prompt: ask_number
      retry_prompts: [ask_number_again]
      digits: {{min: 4, max: 4}}
    outcomes: {{}}
results:
  identified_and_verified:
    say: thanks
    route: agent
"""


def run(*command: str | Path) -> None:
    subprocess.run([str(part) for part in command], check=True, capture_output=True)


def make_tone_mp3(path: Path) -> Path:
    """A 440 Hz tone, 44.1 kHz stereo MP3, with half a second of silence at each end."""
    wav = path.with_suffix(".src.wav")
    run(
        "sox",
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        "-b",
        "16",
        wav,
        "synth",
        str(TONE_S),
        "sine",
        "440",
        "vol",
        "0.3",
        "pad",
        str(PAD_S),
        str(PAD_S),
    )
    run("ffmpeg", "-v", "error", "-y", "-i", wav, "-codec:a", "libmp3lame", "-b:a", "128k", path)
    wav.unlink()
    return path


def make_speech_flac(path: Path, text: str = "Welcome to Example Bank.") -> Path:
    """espeak-ng speech, resampled by sox to 44.1 kHz stereo FLAC."""
    wav = path.with_suffix(".src.wav")
    run("espeak-ng", "-v", "en-gb", "-w", wav, text)
    run("sox", wav, "-r", "44100", "-c", "2", path)
    wav.unlink()
    return path


def write_catalog(root: Path, language: str, body: str) -> Path:
    folder = root / language
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.yaml"
    path.write_text(f"language: {language}\nprompts:\n" + textwrap.indent(body, "  "))
    return path


@pytest.fixture
def prompt_tree(tmp_path: Path) -> Path:
    """prompts/ (en-GB: two recordings, two spoken prompts) and flows/ with one flow."""
    prompts = tmp_path / "prompts"
    write_catalog(
        prompts,
        "en-GB",
        textwrap.dedent(
            """\
            welcome:
              text: Welcome to Example Bank.
              audio: welcome.flac
            ask_number:
              text: Please key in the last 4 digits of your account number.
              audio: ask_number.mp3
            ask_number_again:
              text: Sorry, please try again.
            thanks:
              text: Thank you, {customer_name}.
            """
        ),
    )
    make_speech_flac(prompts / "en-GB" / "welcome.flac")
    make_tone_mp3(prompts / "en-GB" / "ask_number.mp3")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "demo.yaml").write_text(FLOW.format(languages="en-GB"))
    return tmp_path
