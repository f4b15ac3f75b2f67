// Microphone capture: cuts the first input channel into 20 ms frames of PCM16 little-endian at the
// context's own rate, each prefixed by a u32 little-endian sequence number, and posts them (with
// the frame's RMS level) to the main thread. Framing happens here, off the main thread, so a busy
// page cannot tear a frame.
'use strict';

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioWorkletGlobalScope's rate: the context's.
    this.frameSamples = Math.round(sampleRate * 0.02);
    this.seq = 0;
    this.sending = false;
    this.newFrame();
    this.port.onmessage = ({ data }) => {
      if (data && data.type === 'start') {
        // Sequence numbers count from the server's `ready`; anything captured before is dropped.
        this.seq = 0;
        this.sending = true;
        this.newFrame();
      } else if (data && data.type === 'stop') {
        this.sending = false;
      }
    };
  }

  newFrame() {
    this.buf = new ArrayBuffer(4 + 2 * this.frameSamples);
    this.view = new DataView(this.buf);
    this.fill = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const input = inputs[0];
    // Channel 0 only: the fake and some real devices report two channels despite channelCount: 1.
    const ch0 = input && input[0];
    if (!ch0) return true;
    // Do not assume 128-sample blocks: walk whatever length we got.
    for (let i = 0; i < ch0.length; i++) {
      const x = Math.max(-1, Math.min(1, ch0[i]));
      this.sumSquares += x * x;
      const s = x < 0 ? Math.round(x * 0x8000) : Math.round(x * 0x7fff);
      this.view.setInt16(4 + 2 * this.fill, s, true);
      this.fill++;
      if (this.fill === this.frameSamples) {
        const level = Math.sqrt(this.sumSquares / this.frameSamples);
        if (this.sending) {
          this.view.setUint32(0, this.seq >>> 0, true);
          this.seq++;
          this.port.postMessage({ type: 'frame', buf: this.buf, level }, [this.buf]);
          this.newFrame();
        } else {
          this.port.postMessage({ type: 'level', level });
          this.fill = 0;
          this.sumSquares = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor('voicegate-capture', CaptureProcessor);
