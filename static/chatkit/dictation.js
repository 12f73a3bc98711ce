// Dictation in the built-in client: a microphone button records with
// MediaRecorder (WebM/Opus where the browser has it), sends the clip to
// `input.transcribe` as base64, and hands the text back to the composer.
// Recording stops by a second press, or at the server's length limit.

import { h } from "./dom.js";
import { icon } from "./icons.js";

// In the order the server's transcription accepts them best.
const RECORDING_TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];

function recordingType() {
  if (!window.MediaRecorder?.isTypeSupported) return "";
  return RECORDING_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(String(reader.result).split(",", 2)[1] || ""));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(blob);
  });
}

function clock(seconds) {
  return `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;
}

export class Dictation {
  /**
   * `onText(text)` receives the transcription; `onError(message)` a problem
   * to show; `onStateChange(state)` hears "idle", "recording" and
   * "transcribing".
   */
  constructor({ api, maxSeconds = 120, onText, onError, onStateChange = () => {} }) {
    this.api = api;
    this.maxSeconds = maxSeconds;
    this.onText = onText;
    this.onError = onError;
    this.onStateChange = onStateChange;
    this.state = "idle";
    this.button = h(
      "button",
      {
        type: "button",
        className: "ck-icon-button ck-dictate",
        ariaLabel: "Dictate",
        ariaPressed: "false",
        title: "Dictate",
        on: { click: () => this.toggle() },
      },
      icon("mic"),
    );
    this.status = h("span", { className: "ck-dictation-status", role: "status" });
  }

  toggle() {
    if (this.state === "recording") this.stop();
    else if (this.state === "idle") this.start();
  }

  setState(state, text = "") {
    this.state = state;
    const recording = state === "recording";
    this.button.setAttribute("aria-pressed", String(recording));
    this.button.setAttribute("aria-label", recording ? "Stop dictating" : "Dictate");
    this.button.title = recording ? "Stop dictating" : "Dictate";
    this.button.classList.toggle("is-recording", recording);
    this.button.disabled = state === "transcribing";
    this.status.textContent = text;
    this.onStateChange(state);
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
      this.onError("This browser cannot record audio.");
      return;
    }
    this.setState("starting", "Starting the microphone…");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      this.setState("idle");
      this.onError(
        error?.name === "NotAllowedError"
          ? "The microphone is blocked. Allow it for this site to dictate."
          : "No microphone could be opened.",
      );
      return;
    }
    const type = recordingType();
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      clearInterval(this.timer);
      const mimeType = recorder.mimeType || type || "audio/webm";
      this.transcribe(new Blob(chunks, { type: mimeType }), mimeType);
    });
    this.recorder = recorder;
    const started = performance.now();
    // Stop a little short of the server's limit: the clip's own length runs
    // slightly past the moment stop() is called.
    const limit = Math.max(1, this.maxSeconds - 0.75);
    this.timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      this.status.textContent = `Listening ${clock(seconds)}`;
      if (seconds >= limit) this.stop();
    }, 250);
    recorder.start();
    this.setState("recording", "Listening 0:00");
  }

  stop() {
    if (this.recorder?.state === "recording") this.recorder.stop();
  }

  async transcribe(blob, mimeType) {
    this.setState("transcribing", "Transcribing…");
    try {
      if (!blob.size) throw new Error("Nothing was recorded.");
      const result = await this.api.request("input.transcribe", {
        audio_base64: await base64Of(blob),
        mime_type: mimeType,
      });
      const text = String(result?.text || "").trim();
      if (text) this.onText(text);
      else this.onError("No words were heard in the recording.");
    } catch (error) {
      this.onError(`Could not transcribe the recording: ${error.message}`);
    } finally {
      this.setState("idle");
    }
  }
}
