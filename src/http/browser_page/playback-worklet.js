// Agent playback at 24 kHz with a small jitter buffer, marks and clear.
//
// The queue holds chunks of Float32 audio and mark names, in arrival order. Output starts once
// `prebuffer` samples are queued, or once the oldest queued audio has waited that long (so the
// short tail of a reply still plays). On underrun it outputs silence and waits again. A mark is
// echoed when everything queued before it has been rendered. `clear` drops all queued audio,
// echoes every pending mark at once, then reports how many samples were played in total.
'use strict';

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const ms = (options && options.processorOptions && options.processorOptions.prebufferMs) || 80;
    this.prebuffer = Math.round((sampleRate * ms) / 1000);
    this.queue = [];        // entries: { audio: Float32Array } | { mark: string }
    this.head = 0;          // read offset into queue[0].audio
    this.queued = 0;        // audio samples in the queue
    this.playing = false;
    this.waitStart = -1;    // currentFrame when audio arrived into an idle player
    this.played = 0;        // samples rendered since the call started
    this.underruns = 0;
    this.port.onmessage = ({ data }) => this.onMessage(data);
  }

  onMessage(m) {
    if (m.type === 'pcm') {
      const i16 = new Int16Array(m.buf);
      if (i16.length === 0) return;
      const f = new Float32Array(i16.length);
      for (let i = 0; i < i16.length; i++) f[i] = i16[i] / 32768;
      this.queue.push({ audio: f });
      if (this.queued === 0 && !this.playing) this.waitStart = currentFrame;
      this.queued += f.length;
    } else if (m.type === 'mark') {
      this.queue.push({ mark: m.name });
    } else if (m.type === 'clear') {
      for (const e of this.queue) if (e.mark !== undefined) this.port.postMessage({ type: 'mark', name: e.mark });
      this.queue = [];
      this.head = 0;
      this.queued = 0;
      this.playing = false;
      this.waitStart = -1;
      this.port.postMessage({ type: 'cleared', played: this.played });
    }
  }

  // Echo the marks at the front of the queue: nothing before them is left to play.
  echoLeadingMarks() {
    while (this.queue.length && this.queue[0].mark !== undefined) {
      this.port.postMessage({ type: 'mark', name: this.queue.shift().mark });
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!out) return true;
    if (!this.playing && this.queued > 0) {
      const waited = this.waitStart >= 0 ? currentFrame - this.waitStart : 0;
      if (this.queued >= this.prebuffer || waited >= this.prebuffer) this.playing = true;
    }
    // Marks with no audio ahead of them (e.g. after the last chunk played) go out now.
    if (this.playing || this.queued === 0) this.echoLeadingMarks();
    let i = 0;
    if (this.playing) {
      while (i < out.length && this.queue.length) {
        const e = this.queue[0];
        if (e.mark !== undefined) {
          this.port.postMessage({ type: 'mark', name: e.mark });
          this.queue.shift();
          continue;
        }
        const n = Math.min(out.length - i, e.audio.length - this.head);
        out.set(e.audio.subarray(this.head, this.head + n), i);
        i += n;
        this.head += n;
        this.queued -= n;
        this.played += n;
        if (this.head === e.audio.length) {
          this.queue.shift();
          this.head = 0;
        }
      }
      this.echoLeadingMarks();
      if (this.queued === 0) {
        if (i < out.length) this.underruns++;
        this.playing = false;
        this.waitStart = -1;
      }
    }
    out.fill(0, i);
    // Copy to any further output channels (a stereo destination).
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    return true;
  }
}

registerProcessor('voicegate-playback', PlaybackProcessor);
