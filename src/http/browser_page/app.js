// voicegate browser client: microphone → 20 ms PCM16 frames over a WebSocket; agent audio (24 kHz
// PCM16) → a playback worklet with a jitter buffer; marks, clear and transcript as JSON.
// No build step. Transcript text is shown, never logged.
'use strict';

(() => {
  const DEFAULTS = {
    token_url: '/browser/token',
    ws_path: '/browser/ws',
    // getUserMedia processing constraints; the server's configuration overrides them.
    audio_constraints: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    prebuffer_ms: 80,
    disclosure: '',
  };
  // Rates the server resamples from (src/audio/stream_resample.rs SUPPORTED_RATES).
  const SUPPORTED_RATES = [48000, 44100, 32000, 24000, 22050, 16000];
  const PLAYBACK_RATE = 24000;
  // Drop microphone frames instead of queueing them when the socket is this far behind (~0.5 s).
  const MAX_BUFFERED_BYTES = 48000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    start: $('start'), stop: $('stop'), status: $('status'), error: $('error'),
    level: $('level'), agent: $('agent-state'), transcript: $('transcript'), disclosure: $('disclosure'),
  };

  function readConfig() {
    let injected = {};
    try {
      injected = JSON.parse($('config').textContent || '{}');
    } catch (_) {
      injected = {};
    }
    const cfg = Object.assign({}, DEFAULTS, injected);
    cfg.audio_constraints = Object.assign({}, DEFAULTS.audio_constraints, injected.audio_constraints || {});
    return cfg;
  }
  const config = readConfig();
  if (config.disclosure) ui.disclosure.textContent = config.disclosure;

  // Counters for automated tests (no PHI: no transcript text here).
  const debug = {
    state: 'idle', framesSent: 0, framesDropped: 0, marksEchoed: 0, clearsReceived: 0,
    cleared: [], audioChunks: 0, transcriptLines: 0, sampleRate: 0, trackSettings: null, lastError: '',
  };
  window.voicegateDebug = debug;

  let call = null; // the live call's resources

  /** An error whose message is meant for the user. */
  class UserError extends Error {}

  function setStatus(text) { ui.status.textContent = text; }
  function showError(text) {
    ui.error.textContent = text;
    debug.lastError = text;
  }
  function setAgentState(state) {
    const labels = { listening: 'listening', speaking: 'speaking', tool: 'looking something up…' };
    ui.agent.textContent = labels[state] || 'idle';
  }

  // One <li> per line; a partial line is replaced by the next line of the same speaker.
  const partial = { caller: null, agent: null };
  function showTranscript(speaker, text, final) {
    if (speaker !== 'caller' && speaker !== 'agent') return;
    let li = partial[speaker];
    if (!li) {
      li = document.createElement('li');
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = speaker === 'caller' ? 'You:' : 'Assistant:';
      li.appendChild(who);
      li.appendChild(document.createElement('span'));
      ui.transcript.appendChild(li);
    }
    li.lastChild.textContent = String(text);
    li.classList.toggle('partial', !final);
    partial[speaker] = final ? null : li;
    if (final) debug.transcriptLines++;
  }

  async function fetchToken() {
    let res;
    try {
      res = await fetch(config.token_url, { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } });
    } catch (_) {
      throw new UserError('The clinic\'s server cannot be reached. Check your connection and try again.');
    }
    if (res.status === 429 || res.status === 503) {
      throw new UserError('The line is busy right now. Please try again in a minute.');
    }
    if (res.status === 401 || res.status === 403) {
      throw new UserError('This page is not allowed to start a call. Please reload it from the clinic\'s website.');
    }
    if (!res.ok) throw new UserError('The call could not be started (server error). Please try again later.');
    const body = await res.json().catch(() => ({}));
    if (!body || typeof body.token !== 'string') throw new UserError('The call could not be started (bad server reply).');
    return body.token;
  }

  async function openMicrophone() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new UserError('Your browser only allows the microphone on a secure (https) page.');
    }
    const constraints = { audio: Object.assign({ channelCount: 1 }, config.audio_constraints) };
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (e) {
      if (e && (e.name === 'NotAllowedError' || e.name === 'SecurityError')) {
        throw new UserError('Microphone access was denied. Allow the microphone for this page in your browser settings, then try again.');
      }
      if (e && (e.name === 'NotFoundError' || e.name === 'OverconstrainedError')) {
        throw new UserError('No microphone was found. Connect one and try again.');
      }
      if (e && e.name === 'NotReadableError') {
        throw new UserError('The microphone is in use by another application.');
      }
      throw new UserError('The microphone could not be opened.');
    }
  }

  // A context at the device's own rate (Firefox cannot mix rates); fall back to 48 kHz if the
  // device runs at a rate the server does not take.
  async function captureContext(stream) {
    let ctx = new AudioContext();
    if (!SUPPORTED_RATES.includes(ctx.sampleRate)) {
      await ctx.close();
      ctx = new AudioContext({ sampleRate: 48000 });
    }
    let source;
    try {
      source = ctx.createMediaStreamSource(stream);
    } catch (_) {
      await ctx.close();
      throw new UserError('This microphone\'s sample rate is not supported by your browser. Try another browser or microphone.');
    }
    await ctx.audioWorklet.addModule(new URL('capture-worklet.js', document.baseURI).href);
    const node = new AudioWorkletNode(ctx, 'voicegate-capture', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    // Keep the node pulled by the graph without making any sound.
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(ctx.destination);
    await ctx.resume();
    return { ctx, node, source };
  }

  async function playbackContext() {
    const ctx = new AudioContext({ sampleRate: PLAYBACK_RATE });
    await ctx.audioWorklet.addModule(new URL('playback-worklet.js', document.baseURI).href);
    const node = new AudioWorkletNode(ctx, 'voicegate-playback', {
      numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { prebufferMs: config.prebuffer_ms },
    });
    node.connect(ctx.destination);
    await ctx.resume();
    return { ctx, node };
  }

  function wsUrl() {
    const u = new URL(config.ws_path, document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  }

  function send(ws, obj) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  // What the page says for a server `error` code (src/transport/browser.rs page_error_code).
  function errorText(code) {
    switch (code) {
      case 'busy': return 'The line is busy right now. Please try again in a minute.';
      case 'refused': return 'The server refused the call. Please reload the page and try again.';
      case 'protocol': return 'The call ended because of a technical problem with this page. Please reload it.';
      default: return 'The call ended because of a server problem. Please try again later.';
    }
  }

  async function startCall() {
    ui.start.disabled = true;
    showError('');
    debug.state = 'starting';
    setStatus('Starting…');
    const c = { ws: null, capture: null, playback: null, stream: null, ended: false, serverEnd: null };
    call = c;
    try {
      const token = await fetchToken();
      setStatus('Waiting for the microphone…');
      c.stream = await openMicrophone();
      const track = c.stream.getAudioTracks()[0];
      const settings = track ? track.getSettings() : {};
      debug.trackSettings = { echoCancellation: settings.echoCancellation, noiseSuppression: settings.noiseSuppression, autoGainControl: settings.autoGainControl };
      if (track) track.addEventListener('ended', () => failCall(c, 'The microphone was disconnected.'));
      c.capture = await captureContext(c.stream);
      c.playback = await playbackContext();
      debug.sampleRate = c.capture.ctx.sampleRate;
      if (call !== c) return; // stopped meanwhile
      setStatus('Connecting…');
      connect(c, token, settings);
    } catch (e) {
      failCall(c, e instanceof UserError ? e.message : 'The call could not be started.');
    }
  }

  function connect(c, token, settings) {
    const ws = new WebSocket(wsUrl());
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    ws.onopen = () => {
      send(ws, {
        type: 'hello', sample_rate: c.capture.ctx.sampleRate, format: 'pcm16le', channels: 1, frame_ms: 20, token,
        audio: {
          echo_cancellation: settings.echoCancellation, noise_suppression: settings.noiseSuppression,
          auto_gain_control: settings.autoGainControl,
        },
      });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        debug.audioChunks++;
        c.playback.node.port.postMessage({ type: 'pcm', buf: ev.data }, [ev.data]);
        return;
      }
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      onControl(c, m);
    };
    ws.onclose = (ev) => {
      if (c.ended) return;
      if (c.serverEnd) return endCall(c, c.serverEnd.text, c.serverEnd.isError);
      if (ev.code === 1000) return endCall(c, 'The call has ended.', false);
      failCall(c, debug.state === 'in-call'
        ? 'The connection to the clinic was lost. Please start a new call.'
        : 'Could not connect to the clinic. The line may be busy; please try again in a minute.');
    };
    c.capture.node.port.onmessage = ({ data }) => {
      if (data.type === 'level') {
        ui.level.value = Math.min(1, data.level * 4);
      } else if (data.type === 'frame') {
        ui.level.value = Math.min(1, data.level * 4);
        if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < MAX_BUFFERED_BYTES) {
          ws.send(data.buf);
          debug.framesSent++;
        } else {
          // Dropped: the sequence number still advances, so the server counts the gap.
          debug.framesDropped++;
        }
      }
    };
    c.playback.node.port.onmessage = ({ data }) => {
      if (data.type === 'mark') {
        debug.marksEchoed++;
        send(ws, { type: 'mark', name: data.name });
      } else if (data.type === 'cleared') {
        debug.cleared.push(data.played);
        // `played` counts samples the worklet rendered; the speaker is behind it by the output
        // latency, reported separately so the server can decide whether to subtract it.
        const lat = (c.playback.ctx.baseLatency || 0) + (c.playback.ctx.outputLatency || 0);
        send(ws, { type: 'cleared', played_samples: data.played, latency_samples: Math.round(lat * PLAYBACK_RATE) });
      }
    };
  }

  function onControl(c, m) {
    switch (m.type) {
      case 'ready':
        debug.state = 'in-call';
        ui.stop.disabled = false;
        ui.stop.focus();
        setStatus('Connected. Speak whenever you are ready.');
        setAgentState('listening');
        c.capture.node.port.postMessage({ type: 'start' });
        break;
      case 'mark':
        if (typeof m.name === 'string') c.playback.node.port.postMessage({ type: 'mark', name: m.name });
        break;
      case 'clear':
        debug.clearsReceived++;
        c.playback.node.port.postMessage({ type: 'clear' });
        break;
      case 'transcript':
        showTranscript(m.speaker, m.text, m.final !== false);
        break;
      case 'agent_state':
        setAgentState(m.state);
        break;
      case 'ended':
        c.serverEnd = { text: 'The call has ended.', isError: false };
        break;
      case 'error':
        c.serverEnd = { text: errorText(m.code), isError: true };
        break;
      default:
        break; // newer server messages are ignored
    }
  }

  function release(c) {
    c.ended = true;
    if (c.capture) { c.capture.node.port.postMessage({ type: 'stop' }); c.capture.ctx.close().catch(() => {}); }
    if (c.playback) c.playback.ctx.close().catch(() => {});
    if (c.stream) c.stream.getTracks().forEach((t) => t.stop());
    if (c.ws && c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000, 'caller hung up');
    if (call === c) call = null;
    ui.level.value = 0;
    setAgentState('idle');
    ui.start.disabled = false;
    ui.stop.disabled = true;
  }

  function endCall(c, text, isError) {
    if (c.ended) return;
    release(c);
    debug.state = 'ended';
    setStatus(isError ? 'Call ended.' : text);
    if (isError) showError(text);
    ui.start.focus();
  }

  function failCall(c, text) {
    if (c.ended) return;
    release(c);
    debug.state = 'failed';
    setStatus('Not connected.');
    showError(text);
    ui.start.focus();
  }

  function hangUp() {
    const c = call;
    if (!c) return;
    if (c.ws) send(c.ws, { type: 'hangup' });
    endCall(c, 'You ended the call.', false);
  }

  ui.start.addEventListener('click', startCall);
  ui.stop.addEventListener('click', hangUp);
  window.addEventListener('pagehide', hangUp);
})();
