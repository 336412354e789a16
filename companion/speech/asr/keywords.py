"""The ten Speech Commands words from a short utterance, with the MLPerf Tiny DS-CNN keyword model.

Why this model: a closed grammar (PocketSphinx) turns most words that are not
commands into some command; this 43 KB network was trained with an
``_unknown_`` class for every other word and a ``_silence_`` class, so it says
so instead, in half a millisecond for one second of audio. It only knows
down, go, left, no, off, on, right, stop, up and yes (models/kws-dscnn/MODEL.md
has the source, licence and measured figures; ``bench/keywords.py`` re-measures).

The front end is the reference training pipeline's (TensorFlow ``tf.signal``
defaults) in numpy: the model only works on features computed exactly so.

An utterance from the endpointer is rarely the one second the model takes: it
is 0.5-2.5 s with room noise before and after. A shorter one is padded with
zeros at the end, as the training pipeline padded short clips (centring it, or
filling with its own room noise, did no better). A longer one is scanned with
1 s windows every 80 ms (at most 16) and the window the model finds least like
silence is kept. On real speech inside real room noise this kept recall at the
level of clean one-second clips; the loudest window lost 5 points (22 in loud
noise) and a window centred on the energy 1-1.5, because the model tolerates
only about 0.1 s of misplacement. Keeping the window with the most confident
*command* instead turned a quarter of other words into commands.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.content.locale import package_folder
from companion.speech.ports import SAMPLE_RATE, RecognizerUnavailable

MODEL_FOLDER = "kws-dscnn"
MODEL_FILE = "kws_ref_model_float32.tflite"
LABELS_FILE = "labels.txt"
CHECKSUM_FILE = "checksums.sha256"

WORDS: tuple[str, ...] = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"

CLIP_SAMPLES = SAMPLE_RATE  # the model hears exactly one second
FRAME_SAMPLES = 480  # 30 ms
HOP_SAMPLES = 320  # 20 ms
FFT_SIZE = 512
FRAMES = 1 + (CLIP_SAMPLES - FRAME_SAMPLES) // HOP_SAMPLES  # 49
MEL_BINS = 40
MEL_LOW_HZ, MEL_HIGH_HZ = 20.0, 4000.0
COEFFICIENTS = 10
LOG_OFFSET = 1e-6

WINDOW_STEP = 4  # hops between the 1 s windows scanned in a longer utterance (80 ms)
MAX_WINDOWS = 16  # beyond this the step grows, so a long utterance costs no more
_MATMUL_ROWS = 64  # small products: OpenBLAS stays single-threaded (its threads stall on a busy CPU)


def _hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale, as ``tf.signal`` has it."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def _mel_matrix() -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20, 4000)``, without its all-zero rows."""
    bins = FFT_SIZE // 2 + 1
    spectrum_mel = _hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins)[1:])[:, None]  # bin 0 (DC) is left out
    edges = np.linspace(_hertz_to_mel(MEL_LOW_HZ), _hertz_to_mel(MEL_HIGH_HZ), MEL_BINS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrum_mel - lower) / (centre - lower)
    falling = (upper - spectrum_mel) / (upper - centre)
    weights = np.vstack([np.zeros((1, MEL_BINS)), np.maximum(0.0, np.minimum(rising, falling))])
    used = int(np.nonzero(weights.any(axis=1))[0][-1]) + 1  # nothing above 4 kHz: skip those bins
    return weights[:used]


def _dct_matrix() -> np.ndarray:
    """``tf.signal.mfccs_from_log_mel_spectrograms``: unnormalised DCT-II times 1/sqrt(2 * 40), first 10."""
    n = np.arange(MEL_BINS)[:, None]
    k = np.arange(COEFFICIENTS)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * MEL_BINS)) / math.sqrt(2.0 * MEL_BINS)


_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_SAMPLES) / FRAME_SAMPLES)  # periodic
_MEL = _mel_matrix()
_DCT = _dct_matrix()


def _mel_frames(samples: np.ndarray) -> np.ndarray:
    """Mel-weighted magnitude spectra of every 30 ms frame (20 ms apart), before any scaling."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, FRAME_SAMPLES)[::HOP_SAMPLES]
    spectra = np.abs(np.fft.rfft(frames * _HANN, FFT_SIZE))[:, :len(_MEL)]
    mel = np.empty((len(spectra), MEL_BINS))
    for start in range(0, len(spectra), _MATMUL_ROWS):
        mel[start:start + _MATMUL_ROWS] = spectra[start:start + _MATMUL_ROWS] @ _MEL
    return mel


def _peak(samples: np.ndarray) -> float:
    peak = float(samples.max()) if len(samples) else 0.0
    return peak if peak > 0 else 1.0


def _mfcc_from_mel(mel: np.ndarray, peak: float) -> np.ndarray:
    """MFCCs of one second whose audio is divided by ``peak`` (the spectrum is linear in the audio)."""
    return (np.log(mel / peak + LOG_OFFSET) @ _DCT).astype(np.float32)


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2).astype(np.float64)


def mfcc(audio: bytes | np.ndarray) -> np.ndarray:
    """The model's input for one second: (49, 10) float32 MFCCs, as the reference pipeline computes them.

    ``audio`` is 16-bit PCM bytes or an array of samples at 16 kHz; it is cut to one
    second or padded with zeros at the end, then divided by its own peak (its
    maximum), framed (480/320, periodic Hann, FFT 512, magnitude), mapped to 40
    HTK mel bins from 20 to 4000 Hz, logged (+1e-6) and DCT'd.
    """
    samples = _samples(audio) if isinstance(audio, (bytes, bytearray, memoryview)) else \
        np.asarray(audio, dtype=np.float64)
    samples = np.pad(samples[:CLIP_SAMPLES], (0, max(0, CLIP_SAMPLES - len(samples))))
    return _mfcc_from_mel(_mel_frames(samples), _peak(samples))


def window_starts(samples: int) -> list[int]:
    """Where the scanned 1 s windows begin (in hops) in audio of ``samples`` samples (>= 1 s): evenly
    spread from the start to the end, at most ``WINDOW_STEP`` apart while ``MAX_WINDOWS`` allow."""
    last = (samples - CLIP_SAMPLES) // HOP_SAMPLES
    count = min(MAX_WINDOWS, math.ceil(last / WINDOW_STEP) + 1)
    if count < 2:
        return [0]
    return sorted({round(i * last / (count - 1)) for i in range(count)})


@dataclass(frozen=True)
class KeywordScores:
    """What the model heard in one utterance."""

    probs: dict[str, float]  # every label (the ten words, "_silence_", "_unknown_") -> probability
    top: str  # the most probable label
    top_prob: float
    ms: float  # time spent classifying
    start: float = 0.0  # where the 1 s window it judged begins, in seconds into the audio

    def prob(self, word: str) -> float:
        """The probability of ``word`` (0.0 for a word the model does not know)."""
        return self.probs.get(word, 0.0)

    @property
    def is_command(self) -> bool:
        """True when the top label is one of the ten words."""
        return self.top in WORDS


def _read_checksums(folder: Path) -> dict[str, str]:
    path = folder / CHECKSUM_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise RecognizerUnavailable(f"the keyword model's checksum file {path} is missing. Fix: reinstall "
                                    "companion, or in a checkout restore it with git checkout models/kws-dscnn")
    sums = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _verified(folder: Path, name: str, sums: dict[str, str]) -> bytes:
    """The bytes of ``folder/name`` after checking them against the checksum file."""
    path = folder / name
    expected = sums.get(name)
    if expected is None:
        raise RecognizerUnavailable(f"{folder / CHECKSUM_FILE} lists no checksum for {name}, so it cannot be "
                                    "trusted. Fix: reinstall companion, or restore models/kws-dscnn with git")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecognizerUnavailable(f"the keyword model file {path} cannot be read ({exc.strerror or exc}). "
                                    "Fix: reinstall companion, or restore models/kws-dscnn with git")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise RecognizerUnavailable(f"the keyword model file {path} fails its checksum (sha256 {actual[:12]}..., "
                                    f"expected {expected[:12]}...): it is damaged or was replaced. "
                                    "Fix: reinstall companion, or restore models/kws-dscnn with git")
    return data


class KeywordSpotter:
    """The DS-CNN keyword model: :meth:`classify` a whole utterance at a time.

    One interpreter per instance; calls are serialised by a lock, so one
    listener thread (or a few) can share an instance.
    """

    WORDS = WORDS

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else package_folder("companion.models") / MODEL_FOLDER
        began = time.perf_counter()
        sums = _read_checksums(self.folder)
        model = _verified(self.folder, MODEL_FILE, sums)
        labels = tuple(_verified(self.folder, LABELS_FILE, sums).decode("utf-8").split())
        if labels[:len(WORDS)] != WORDS or labels[len(WORDS):] != (SILENCE, UNKNOWN):
            raise RecognizerUnavailable(f"{self.folder / LABELS_FILE} does not list the labels this adapter "
                                        f"expects ({', '.join(WORDS)}, {SILENCE}, {UNKNOWN})")
        self._labels = labels
        self._silence = labels.index(SILENCE)
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise RecognizerUnavailable("the keyword model needs LiteRT, which is not installed. "
                                        "Fix: pip install ai-edge-litert") from None
        try:
            # The built-in kernels: no XNNPACK delegate, which would print an INFO line on every load.
            builtin = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            interpreter = Interpreter(model_content=model, num_threads=1, experimental_op_resolver_type=builtin)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise RecognizerUnavailable(f"LiteRT cannot load {self.folder / MODEL_FILE}: {exc}") from None
        source, sink = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        if tuple(source["shape"]) != (1, FRAMES, COEFFICIENTS, 1) or tuple(sink["shape"]) != (1, len(labels)):
            raise RecognizerUnavailable(f"{self.folder / MODEL_FILE} is not the float32 DS-CNN this adapter "
                                        f"expects (input {tuple(source['shape'])}, output {tuple(sink['shape'])})")
        self._interpreter = interpreter
        self._input, self._output = source["index"], sink["index"]
        self._lock = threading.Lock()
        self.load_ms = (time.perf_counter() - began) * 1000

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's twelve labels, in its output order."""
        return self._labels

    def _run(self, features: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input, features[None, :, :, None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)[0].astype(np.float64)

    def classify(self, pcm: bytes) -> KeywordScores:
        """Score one utterance: 16-bit mono PCM at 16 kHz, of any length."""
        began = time.perf_counter()
        samples = _samples(pcm)
        if len(samples) < CLIP_SAMPLES:
            samples = np.pad(samples, (0, CLIP_SAMPLES - len(samples)))
        mel = _mel_frames(samples)
        best, best_start = None, 0
        with self._lock:
            for start in window_starts(len(samples)):
                first = start * HOP_SAMPLES
                peak = _peak(samples[first:first + CLIP_SAMPLES])
                probs = self._run(_mfcc_from_mel(mel[start:start + FRAMES], peak))
                if best is None or probs[self._silence] < best[self._silence]:
                    best, best_start = probs, start
        top = int(np.argmax(best))
        return KeywordScores(probs={label: float(p) for label, p in zip(self._labels, best)},
                             top=self._labels[top], top_prob=float(best[top]),
                             ms=(time.perf_counter() - began) * 1000,
                             start=best_start * HOP_SAMPLES / SAMPLE_RATE)
