#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: real-shaped frames from the protocol notes.

The JSON frames are copied from ../shared/protocols/ (twilio-media-streams.md §2,
browser-audio.md §5, openai-realtime.md §5) and from the decoders' own unit tests; the binary seeds
encode whole connections in each target's input format (documented at the top of its source).
Run from anywhere: `python3 fuzz/make_seeds.py`. The output is deterministic.
"""

import base64
import json
import math
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def tone(rate, n, freq=440.0, amp=0.5, start=0):
    return [round(amp * 32767 * math.sin(2 * math.pi * freq * (start + i) / rate)) for i in range(n)]


def pcm_le(samples):
    return struct.pack("<%dh" % len(samples), *samples)


def mulaw_encode(x):
    """twilio-media-streams.md §6."""
    sign = 0x80 if x < 0 else 0
    m = min(abs(x), 32635) + 0x84
    e = m.bit_length() - 1 - 7
    mant = (m >> (e + 3)) & 0x0F
    return ~(sign | (e << 4) | mant) & 0xFF


# --- twilio_decode: one text frame per file ------------------------------------------------------
frame_20ms = bytes(mulaw_encode(s) for s in tone(8000, 160))
one_second = bytes(mulaw_encode(s) for s in tone(8000, 8000))
twilio = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "accountSid": "AC25e16e9a716a4a1786a7c83f58e30482",
            "callSid": "CA0cc5b7a0e1d4f1b0b7a8e4f2d1c3b5a7",
            "tracks": ["inbound"],
            "customParameters": {"session": "v1.CA0cc5b7a0e1d4f1b0b7a8e4f2d1c3b5a7.1767233035.k1.c2lnbmF0dXJl"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    },
    "media": {
        "event": "media",
        "sequenceNumber": "4",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": base64.b64encode(frame_20ms).decode()},
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    },
    # The documented cap: one second of μ-law in one frame.
    "media-one-second": {
        "event": "media",
        "sequenceNumber": "5",
        "media": {"track": "inbound", "chunk": "3", "timestamp": "25", "payload": base64.b64encode(one_second).decode()},
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    },
    "dtmf": {
        "event": "dtmf",
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "1"},
    },
    "mark": {
        "event": "mark",
        "sequenceNumber": "4",
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "mark": {"name": "resp_1:item_7:1840"},
    },
    "stop": {
        "event": "stop",
        "sequenceNumber": "5",
        "stop": {"accountSid": "AC25e16e9a716a4a1786a7c83f58e30482", "callSid": "CA0cc5b7a0e1d4f1b0b7a8e4f2d1c3b5a7"},
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    },
}
for name, frame in twilio.items():
    write("twilio_decode", name + ".json", json.dumps(frame, separators=(",", ":")))


# --- browser_decode: whole connections -------------------------------------------------------------
def b_text(s):
    s = s.encode()
    return bytes([0]) + struct.pack("<H", len(s)) + s


def b_binary(advance_ms, payload):
    return bytes([1]) + struct.pack("<HH", advance_ms, len(payload)) + payload


def b_hello(rate_index, any_rate=0, token=None):
    t = b"\x00" if token is None else bytes([len(token) + 1]) + token.encode()
    return bytes([2, rate_index]) + struct.pack("<I", any_rate) + t


def b_mark(name):
    return bytes([3, len(name)]) + name.encode()


def b_cleared(n):
    return bytes([4]) + struct.pack("<Q", n)


def b_frame(skip, seq=None, advance_ms=20, pcm=()):
    pcm = list(pcm)[:255]
    return (
        bytes([5, skip, 0 if seq is None else 1])
        + struct.pack("<IHB", seq or 0, advance_ms, len(pcm))
        + pcm_le(pcm)
    )


def mic_frame(seq, rate):
    n = rate // 50
    return struct.pack("<I", seq) + pcm_le(tone(rate, n, 1000.0, 0.3, seq * n))


HELLO_48K = json.dumps(
    {
        "type": "hello",
        "sample_rate": 48000,
        "format": "pcm16le",
        "channels": 1,
        "frame_ms": 20,
        "token": "b1.bm9uY2Vub25jZQ.1767233035.k1.dGFn",
        "audio": {"echo_cancellation": True, "noise_suppression": False, "auto_gain_control": True},
    },
    separators=(",", ":"),
)
limits = bytes([50, 50])
write(
    "browser_decode",
    "call-48k",
    limits
    + b_text(HELLO_48K)
    + b"".join(b_binary(20, mic_frame(s, 48000)) for s in range(3))
    + b_text('{"type":"mark","name":"g1:item_7:3"}')
    + b_text('{"type":"cleared","played_samples":12345}')
    + b_text('{"type":"hangup"}'),
)
write(
    "browser_decode",
    "call-44k1-gaps",
    limits
    + b_hello(1, token="t0k")
    + b_frame(0, pcm=tone(44100, 200))
    + b_frame(2, pcm=tone(44100, 200), advance_ms=60)
    + b_mark("item_7:1840")
    + b_cleared(480)
    + b_frame(0, seq=100)
    + bytes([6]),
)
write(
    "browser_decode",
    "call-24k-flood",
    bytes([50, 5]) + b_text('{"type":"hello","sample_rate":24000}') + b"".join(b_frame(0, advance_ms=0) for _ in range(8)),
)
write("browser_decode", "audio-before-hello", limits + b_binary(0, mic_frame(0, 16000)) + b_text('{"type":"mark","name":"m"}'))


# --- browser_encode: command sequences --------------------------------------------------------------
def e_audio(data):
    return bytes([0]) + struct.pack("<H", len(data)) + data


def e_raw(s):
    return bytes([1]) + struct.pack("<H", len(s)) + s.encode()


def e_mark(name):
    return bytes([2, len(name)]) + name.encode()


def e_transcript(agent, final, text):
    t = text.encode()
    return bytes([4, (1 if agent else 0) | (2 if final else 0)]) + struct.pack("<H", len(t)) + t


def e_close(code, reason):
    return bytes([6]) + struct.pack("<HB", code, len(reason)) + reason.encode()


write(
    "browser_encode",
    "agent-turn",
    bytes([5, 1])
    + e_audio(pcm_le(tone(24000, 480)))
    + e_mark("resp_1:item_7:20")
    + e_audio(pcm_le(tone(24000, 480, start=480)))
    + e_mark("resp_1:item_7:40")
    + e_transcript(True, False, "Hello, this is the clinic")
    + e_transcript(True, True, 'Hello, this is the clinic. How can I "help"?')
    + bytes([5, 0])
    + e_close(1000, "call ended"),
)
write(
    "browser_encode",
    "odd-chunks-barge-in",
    e_audio(b"\x01\x02\x03")
    + e_audio(b"\x04\x05\x06\x07\x08")
    + e_audio(b"\x09")
    + bytes([3])
    + e_audio(b"\x0a\x0b")
    + e_raw("@@@")
    + e_transcript(False, True, "I'd like an appointment")
    + e_close(1011, "server error"),
)


# --- realtime_parse: one upstream frame per file (openai-realtime.md §5, events.rs tests) ----------
realtime = {
    "session-created": {"type": "session.created", "event_id": "event_1", "session": {"type": "realtime", "id": "sess_1", "model": "gpt-realtime", "output_modalities": ["audio"], "audio": {"input": {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "near_field"}}}}},
    "session-updated": {"type": "session.updated", "event_id": "event_2", "session": {"type": "realtime"}},
    "speech-started": {"type": "input_audio_buffer.speech_started", "event_id": "event_3", "audio_start_ms": 1000, "item_id": "item_1"},
    "speech-stopped": {"type": "input_audio_buffer.speech_stopped", "event_id": "event_4", "audio_end_ms": 2380, "item_id": "item_1"},
    "committed": {"type": "input_audio_buffer.committed", "event_id": "event_5", "previous_item_id": None, "item_id": "item_1"},
    "item-added-user": {"type": "conversation.item.added", "event_id": "e1", "previous_item_id": None, "item": {"id": "item_1", "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}},
    "item-done-assistant": {"type": "conversation.item.done", "event_id": "e6", "previous_item_id": "item_1", "item": {"id": "item_2", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_audio", "transcript": "Hi there."}]}},
    "transcription-completed": {"type": "conversation.item.input_audio_transcription.completed", "event_id": "e7", "item_id": "item_1", "content_index": 0, "transcript": "I'd like to book an appointment.", "usage": {"type": "duration", "seconds": 2}},
    "transcription-failed": {"type": "conversation.item.input_audio_transcription.failed", "event_id": "e8", "item_id": "item_1", "content_index": 0, "error": {"type": "transcription_error", "code": "audio_unintelligible", "message": "x", "param": None}},
    "response-created": {"type": "response.created", "event_id": "e9", "response": {"object": "realtime.response", "id": "resp_1", "status": "in_progress", "output": []}},
    "audio-delta": {"type": "response.output_audio.delta", "event_id": "e2", "response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0, "delta": base64.b64encode(frame_20ms).decode()},
    "audio-done": {"type": "response.output_audio.done", "event_id": "e10", "response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0},
    "transcript-done": {"type": "response.output_audio_transcript.done", "event_id": "e11", "response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0, "transcript": "Hi there."},
    "transcript-delta": {"type": "response.output_audio_transcript.delta", "event_id": "e12", "response_id": "resp_1", "item_id": "item_2", "output_index": 0, "content_index": 0, "delta": "Hi", "obfuscation": "abc"},
    "function-call-done": {"type": "response.function_call_arguments.done", "event_id": "e13", "response_id": "resp_2", "item_id": "item_3", "output_index": 0, "call_id": "call_abc", "name": "find_slots", "arguments": "{\"date\":\"2026-01-05\"}"},
    "response-done-cancelled": {"type": "response.done", "event_id": "e4", "response": {"id": "resp_1", "status": "cancelled", "status_details": {"type": "cancelled", "reason": "turn_detected"}, "output": []}},
    "truncated": {"type": "conversation.item.truncated", "event_id": "e14", "item_id": "item_2", "content_index": 0, "audio_end_ms": 1380},
    "timeout-triggered": {"type": "input_audio_buffer.timeout_triggered", "event_id": "e15", "audio_start_ms": 5000, "audio_end_ms": 11000, "item_id": "item_4"},
    "rate-limits": {"type": "rate_limits.updated", "event_id": "e16", "rate_limits": [{"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06}]},
    "error": {"type": "error", "event_id": "e3", "error": {"type": "invalid_request_error", "code": None, "message": "x", "param": None, "event_id": None}},
    "legacy-audio-delta": {"type": "response.audio.delta", "delta": "AA=="},
}
for name, frame in realtime.items():
    write("realtime_parse", name + ".json", json.dumps(frame, separators=(",", ":")))


# --- mulaw: μ-law bytes (and, read as PCM16, samples) ------------------------------------------------
write("mulaw", "tone-20ms", frame_20ms)
write("mulaw", "silence", b"\xff" * 160)
write("mulaw", "every-byte", bytes(range(256)))
write("mulaw", "pcm-extremes", pcm_le([0, 1, -1, 32767, -32768, 32635, -32635, 132, -132, 8159, -8159]))


# --- stream_resample: a rate, then chunks -----------------------------------------------------------
def r_frame(pcm):
    pcm = list(pcm)[:255]
    return bytes([0, len(pcm)]) + pcm_le(pcm)


def r_bytes(data):
    return bytes([3]) + struct.pack("<H", len(data)) + data


def r_any(samples):
    return bytes([2]) + struct.pack("<H", len(samples)) + pcm_le(samples)


write("stream_resample", "48k-tone-then-silence", bytes([0]) + b"".join(r_bytes(mic_frame(s, 48000)[4:]) for s in range(3)) + bytes([1] * 4))
write("stream_resample", "44k1-cycled-and-odd", bytes([1]) + r_frame(tone(44100, 147)) + r_bytes(b"\x00" * 1763) + r_any(tone(44100, 881)) + r_frame(tone(44100, 147)))
write("stream_resample", "24k-passthrough", bytes([3]) + r_frame(tone(24000, 240)) + r_frame([32767, -32768]))
write("stream_resample", "16k-full-scale", bytes([5]) + r_frame([32767] * 10 + [-32768] * 10) + bytes([1, 1, 1]))

# --- resample_clip: rates, then a clip ----------------------------------------------------------------
write("resample_clip", "22050-to-8000", bytes([2, 0]) + pcm_le(tone(22050, 2205)))
write("resample_clip", "48000-to-24000", bytes([5, 3]) + pcm_le(tone(48000, 960, 1000.0)))
write("resample_clip", "8000-to-24000-silence", bytes([0, 3]) + pcm_le([0] * 400))


# --- canonical_json: audit-record-shaped values and the RFC 8785 examples -----------------------------
canonical = {
    "audit-record": '{"event":"tool.called","call_id":"call-000001","t_ms":1700000000137,"detail":{"duration_s":0.14285714285714285,"note":"caller said \\"hi\\"\\n","k\\u00e9y":[1,null,true]}}',
    "rfc8785-3.2.4": '{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}',
    "rfc8785-sorting": '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    "numbers": "[0, -0.0, 1e21, 1e20, 1e-7, 0.000001, 5e-324, 1.7976931348623157e308, 9007199254740992, -9007199254740992, 1424953923781206.25, 0.1, 100.0]",
    "checkpoint": '{"length":42,"key_id":"ckpt-2025-01","head_hash_hex":"00ff","created_at_unix_ms":1700000000123}',
}
for name, text in canonical.items():
    write("canonical_json", name + ".json", text)
