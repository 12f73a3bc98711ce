"""Real audio clips for tests, encoded with PyAV (a sine tone)."""

from __future__ import annotations

import array
import io
import math

import av

FORMATS = {"webm": "libopus", "ogg": "libopus", "mp4": "aac"}


def tone(container: str = "webm", seconds: float = 2.0, rate: int = 48000) -> bytes:
    """``seconds`` of a 440 Hz tone in ``container`` (webm and ogg: Opus, mp4: AAC)."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as file:
        stream = file.add_stream(FORMATS[container], rate=rate)
        stream.layout = "mono"
        frame_size = 960
        for start in range(0, int(seconds * rate), frame_size):
            samples = array.array(
                "h",
                (
                    int(8000 * math.sin(2 * math.pi * 440 * (start + i) / rate))
                    for i in range(frame_size)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="mono", samples=frame_size)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                file.mux(packet)
        for packet in stream.encode(None):
            file.mux(packet)
    return out.getvalue()
