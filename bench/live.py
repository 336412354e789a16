"""A whole wall-standing session through the real-time fake microphone, with the companion speaking.

    python bench/live.py              # 10 runs, about 22 minutes here
    python bench/live.py --runs 3 --json
    python bench/live.py --fan        # the room noisy all along instead (a fan, 20 dB under the voice)

Each run starts ``companion run wall-standing`` (speaking aloud into the fake
room, so its own voice comes back through the microphone) and, once the
5-minute hold has begun, says, each time waiting for a quiet moment as a person
would:

1. "pause" or "wait" by turns (flite slt; "wait" is the pause word the companion teaches),
   then a real "yes" if it asks "Did you say ...?";
2. "how long is left" (flite slt): it should answer while paused;
3. a real "go" (resume);
4. a real stray word (bird, house, dog, ...): nothing may change;
5. "the pain is going down my leg" (flite slt): it must reach the safety layer;
6. a real "stop", and a real "yes" if it asks whether to end.

If something said earlier already ended the session (a "no" heard as "stop"), the stop counts
as done and the step that ended it is reported (``ended_before_stop``).

Real words come from ../shared/speech-real (a different speaker each run),
sentences from flite's slt voice; everything is mixed with noise at 20 dB: by
default around each thing said (0.2 s either side), with ``--fan`` all through the
run instead (white noise from before the companion starts until it ends, at 20 dB
under the run's real "stop"), which is what the endpointer's noise floor is for.
Per action: how often it took effect, and the delay from the end of the words to
the line that shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.testset import add_noise, speech_power  # noqa: E402
from companion.speech.audio.wav import load_wav_16k  # noqa: E402
from stats import percentiles  # noqa: E402
from tests.fakemic import fake_microphone  # noqa: E402

REAL = ROOT.parent / "shared" / "speech-real"
STRAY = ("bird", "house", "dog", "marvin", "wow", "tree", "cat", "happy", "bed", "sheila")
PAUSE_WORDS = ("pause", "wait")
SNR_DB = 20
QUIET_SECONDS = 1.5  # a person waits for a gap in the companion's speech


def real(word: str, index: int) -> bytes:
    files = sorted((REAL / word).glob("*.wav"))
    return load_wav_16k(files[(index * 7) % len(files)])


def flite(text: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "said.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True, timeout=30)
        return load_wav_16k(path)


FAN_SECONDS = 600  # longer than any run; the player is stopped when the run ends


def noisy(pcm: bytes, seed: int, fan: bool = False) -> bytes:
    """What is said, with 0.2 s either side; mixed with noise of its own unless a fan already fills the room."""
    silence = b"\0" * 6400
    if fan:
        return silence + pcm + silence
    return add_noise(silence + pcm + silence, SNR_DB, seed=seed)


def fan(mic, index: int):
    """Start white noise playing into the room for the whole run, 20 dB under this run's real "stop"."""
    level = speech_power(real("stop", index)) / 10 ** (SNR_DB / 10)
    return mic.play(add_noise(bytes(FAN_SECONDS * 32000), 0, seed=1000 + index, signal_power=level), wait=False)


class Companion:
    """The companion as its own process, its output lines on a queue with the time each arrived."""

    def __init__(self, mic, home: str):
        env = {**mic.env, "COMPANION_HOME": home}
        self.proc = mic.popen([sys.executable, "-m", "companion", "run", "wall-standing"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: "queue.Queue[tuple[float, str]]" = queue.Queue()
        self.seen: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, needles: tuple[str, ...], since: float, timeout: float) -> tuple[float, str] | None:
        """The first line after ``since`` holding one of ``needles``, waiting up to ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            for at, line in self.seen:
                if at >= since and any(n in line for n in needles):
                    return at, line
            if time.monotonic() > end:
                return None
            try:
                self.seen.append(self.lines.get(timeout=0.1))
            except queue.Empty:
                pass

    def wait_quiet(self, seconds: float = QUIET_SECONDS, timeout: float = 30.0) -> None:
        """Until the companion has stopped talking, roughly: a line is printed as its sentence starts and
        sentences are said one after another, so each line's words (about 0.45 s a word) are said from
        the later of its printing and the end of the one before. Lines that are not speech ("YOU SAID"
        for its own voice heard in the room, state lines) do not count: they once made this return
        while a question was still being said."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.drain()
            speech_ends = 0.0
            for at, line in self.seen:
                text = line.split("]", 1)[-1].strip() if "]" in line else ""
                if not text or text.startswith(("(", "YOU SAID", "---", "SYMPTOM:")):
                    continue
                speech_ends = max(speech_ends, at) + 0.45 * len(text.split())
            if time.monotonic() >= speech_ends + seconds:
                return
            time.sleep(0.1)

    def ended(self) -> bool:
        """Whether the session has already ended (its closing line printed)."""
        self.drain()
        return any("SESSION STOPPED" in line for _, line in self.seen)

    def close(self) -> None:
        if self.proc.poll() is None:
            if not self.ended():
                # Not ended by a stop: every thread's stack first (companion.cli.main registers SIGUSR1),
                # so that a companion that went quiet shows where it was, in audio-libraries.log (--keep).
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1.0)
            self.proc.kill()
        self.proc.wait(timeout=10)


def say(mic, companion: Companion, pcm: bytes) -> tuple[float, float]:
    """Say ``pcm`` at a quiet moment; when the words began and when they ended (began + their length).

    Not when the player returned: with a second stream in the room (--fan) it returned up to half a
    second after the audio ended, later than the companion's reply to a plain "stop"."""
    companion.wait_quiet()
    began = time.monotonic()
    mic.play(pcm)
    return began, began + len(pcm) / 32000


def one_run(mic, index: int, sentences: dict[str, bytes], keep: bool = False, with_fan: bool = False) -> dict:
    home = tempfile.mkdtemp(prefix="companion-live-")
    noise = fan(mic, index) if with_fan else None

    def spoken(pcm: bytes) -> bytes:
        return noisy(pcm, index, fan=with_fan)

    companion = Companion(mic, home)
    result: dict = {"run": index}
    try:
        if companion.wait_for(("Listening:",), 0, 60) is None:
            result["error"] = "never started listening"
            return result
        # People talk to it during the exercise's hold, when it is mostly quiet (set-up cues fill
        # nearly every second before it, and while it talks only "stop" is listened for).
        if companion.wait_for(("--- Hold for",), 0, 120) is None:
            result["error"] = "the hold never started"
            return result
        yes = spoken(real("yes", index))

        def attempt(name: str, pcm: bytes, needles: tuple[str, ...], confirm: str | None = None,
                    timeout: float = 8.0) -> None:
            if companion.ended():
                # Something said earlier ended the session (a "no" heard as "stop"): that is recorded as
                # what ended it; a stop has then nothing left to do, and counts as done.
                result.setdefault("ended_before", name)
                if name == "stop":
                    result[name] = True
                return
            began, said = say(mic, companion, pcm)
            seen = companion.wait_for(needles + ((confirm,) if confirm else ()), began, timeout)
            if seen and confirm and confirm in seen[1]:
                began, _ = say(mic, companion, yes)
                seen = companion.wait_for(needles, began, timeout)
                result[f"{name}_asked"] = True
            result[name] = seen is not None
            if seen:
                result[f"{name}_delay_s"] = round(seen[0] - said, 2)

        # "wait" is the pause word the companion teaches; "pause" is what people also say: by turns.
        word = PAUSE_WORDS[index % len(PAUSE_WORDS)]
        result["pause_word"] = word
        attempt("pause", spoken(sentences[word]), ("(paused",), "Did you say")
        attempt("status", spoken(sentences["how long is left"]), ("left",))
        attempt("resume", spoken(real("go", index)), ("(running",), "Did you say")
        stray = STRAY[index % len(STRAY)]
        said = say(mic, companion, spoken(real(stray, index)))[0] \
            if not companion.ended() else time.monotonic()
        changed = companion.wait_for(("YOU SAID", "(paused", "Did you say"), said, 6.0)
        result["stray_word"] = stray
        result["stray_ignored"] = changed is None or "not a command" in changed[1]
        attempt("symptom", spoken(sentences["the pain is going down my leg"]), ("SYMPTOM:",), timeout=10.0)
        if result.get("symptom"):
            # "Is it spreading?" - no; then let the companion answer it before going on, as a person
            # would (saying stop straight after "no" talks over its reply).
            began, _ = say(mic, companion, spoken(real("no", index)))
            result["no_heard"] = companion.wait_for(("answer: no",), began, 6.0) is not None
        attempt("stop", spoken(real("stop", index)), ("SESSION STOPPED",), "Do you want to end")
    finally:
        companion.close()
        companion.drain()
        if noise is not None:
            noise.kill()
            noise.wait(timeout=10)
        if keep:
            result["home"] = home  # the session log (every utterance heard, with each model's evidence)
        else:
            shutil.rmtree(home, ignore_errors=True)
    result["transcript"] = [f"{at - companion.seen[0][0]:7.2f}  {line}" for at, line in companion.seen] \
        if companion.seen else []
    return result


def summarise(runs: list[dict]) -> dict:
    out: dict = {"runs": len(runs)}
    for name in ("pause", "status", "resume", "symptom", "stop"):
        done = [r for r in runs if name in r]
        if not done:
            continue
        delays = [r[f"{name}_delay_s"] * 1000 for r in done if f"{name}_delay_s" in r]
        out[name] = {"took_effect": round(sum(r[name] for r in done) / len(done), 3),
                     "asked_first": sum(bool(r.get(f"{name}_asked")) for r in done),
                     **({"delay_s_p50": round(percentiles(delays)["p50_ms"] / 1000, 2),
                         "delay_s_p95": round(percentiles(delays)["p95_ms"] / 1000, 2)} if delays else {})}
    for word in PAUSE_WORDS:
        said = [r for r in runs if r.get("pause_word") == word and "pause" in r]
        if said:
            out[f"pause said as {word!r}"] = f"{sum(r['pause'] for r in said)} of {len(said)}"
    answered = [r["no_heard"] for r in runs if "no_heard" in r]
    if answered:
        out["no to 'is it spreading?' heard"] = f"{sum(answered)} of {len(answered)}"
    ended = [r["ended_before"] for r in runs if "ended_before" in r]
    out["ended_before_stop"] = {step: ended.count(step) for step in sorted(set(ended))}
    strays = [r for r in runs if "stray_ignored" in r]
    if strays:
        out["stray_ignored"] = round(sum(r["stray_ignored"] for r in strays) / len(strays), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", action="store_true", help="print what the companion printed in each run")
    parser.add_argument("--keep", action="store_true", help="keep each run's companion home (its session log)")
    parser.add_argument("--fan", action="store_true", help="noise all through each run instead of around each word")
    parser.add_argument("--first", type=int, default=0,
                        help="the first run's number (each number picks its own speakers and stray word)")
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"real recordings are needed: {REAL} is missing")
    if shutil.which("flite") is None:
        sys.exit("flite is needed for the sentences: apt-get install flite")
    sentences = {text: flite(text) for text in (*PAUSE_WORDS, "how long is left", "the pain is going down my leg")}
    os.environ.setdefault("COMPANION_REQUIRE_FAKEMIC", "1")
    runs = []
    with fake_microphone(skip=False) as mic:
        for index in range(args.first, args.first + args.runs):
            runs.append(one_run(mic, index, sentences, args.keep, with_fan=args.fan))
            if not args.json:
                print(json.dumps({k: v for k, v in runs[-1].items() if k != "transcript"}), flush=True)
            if args.show:
                print("\n".join(runs[-1]["transcript"]), flush=True)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "snr_db": SNR_DB, "noise": "all along (--fan)" if args.fan else "around each word",
              "summary": summarise(runs), "runs": runs}
    print(json.dumps(report if args.json else report["summary"], indent=2))


if __name__ == "__main__":
    main()
