"""`ivr simulate --record call.wav`: turn the call's transcript into what the caller heard.

A scripted caller presses keys while a collect prompt plays; with barge-in on, their keys cut
that prompt `barge_in_ms` in (the prompt plays whole when barge-in is off or they stay silent).
"""

from __future__ import annotations

from pathlib import Path

from ivr.prompts.call_recording import CallRecording, Heard, Pressed, Silence, TimelineItem
from ivr.prompts.call_recording import render_call as render_timeline
from ivr.prompts.catalog import PromptCatalog
from simulator import player

DEFAULT_BARGE_IN_MS = 1500


def timeline_of(
    outcome: player.CallOutcome, barge_in_ms: int = DEFAULT_BARGE_IN_MS
) -> list[TimelineItem]:
    timeline: list[TimelineItem] = []
    for item in outcome.transcript:
        if isinstance(item, player.HeardPrompt):
            timeline.append(Heard(item.prompt))
        elif isinstance(item, player.PressedKeys):
            last = timeline[-1] if timeline else None
            heard = outcome.transcript[len(timeline) - 1] if timeline else None
            if (
                isinstance(last, Heard)
                and isinstance(heard, player.HeardPrompt)
                and heard.while_collecting
                and heard.barge_in
            ):
                timeline[-1] = Heard(last.prompt, cut_at_ms=barge_in_ms)
            timeline.append(Pressed(item.keys, masked=item.secure))
        else:
            timeline.append(Silence(item.seconds))
    return timeline


def record_call(
    outcome: player.CallOutcome,
    out_path: Path,
    prompts_root: Path,
    language: str = "en-GB",
    barge_in_ms: int = DEFAULT_BARGE_IN_MS,
) -> CallRecording:
    catalog = PromptCatalog.load(prompts_root)
    return render_timeline(timeline_of(outcome, barge_in_ms), catalog, out_path, language=language)
