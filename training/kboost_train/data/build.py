"""``kboost data build``: the offline speech/noise cache, from Debian packages and local synthesisers.

Steps (each skipped when already done, so an interrupted build resumes):
1. ``apt-get download`` every source package into ``<cache>/debs`` (no install) and ``dpkg -x`` it into
   ``<cache>/unpacked/<package>``;
2. real speakers: decode (G.722 / GSM through ffmpeg, from the ``imageio-ffmpeg`` wheel or the system;
   WAV / Ogg through soundfile), resample to 16 kHz, trim silence, split long files into utterances,
   write ``speech/<speaker>.{npy,json}``;
3. synthetic speakers: espeak-ng, flite and festival voices read sentences of the ``fortunes``
   package; the same trimming and splitting;
4. noise: music / effects / crowd recordings (split into train/val/test by file);
5. ``manifest.json`` and ``ATTRIBUTION`` (the copyright file of every source package);
6. d-vectors of every enrollment candidate (when resemblyzer is installed).

The synthesisers are programs, so they are installed (``apt-get install``) when missing and the
build runs as root; otherwise the error names the command to run.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kboost_train.data import sources
from kboost_train.data.store import SAMPLE_RATE, write_manifest, write_noise, write_speaker


class BuildError(RuntimeError):
    """A missing tool or package, or a failed external command: the message says what to do."""


def log(msg: str) -> None:
    print(msg, flush=True)


# ---- tools --------------------------------------------------------------------------------------

def ffmpeg_exe() -> str:
    """The ffmpeg binary: the static one of the imageio-ffmpeg wheel, else the system's."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure: fall back to the system's
        exe = shutil.which("ffmpeg")
        if exe:
            return exe
    raise BuildError("ffmpeg is needed to decode G.722/GSM: pip install imageio-ffmpeg "
                     "(or pip install 'kboost[data]', or apt-get install ffmpeg)")


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, **kw)
    except FileNotFoundError as e:
        raise BuildError(f"{what}: {cmd[0]} not found") from e
    if r.returncode != 0:
        err = (r.stderr or b"")[-800:].decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr
        raise BuildError(f"{what} failed ({' '.join(cmd[:4])} ...): exit {r.returncode}: {err}")
    return r


def require_apt() -> None:
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found: the offline data comes from Debian packages, so the builder "
                             "needs a Debian/Ubuntu machine with apt-get and dpkg")


def apt_install(packages: list[str], allow: bool) -> None:
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if not allow or os.geteuid() != 0:
        raise BuildError(f"missing Debian packages {', '.join(packages)}: run `sudo apt-get update && sudo "
                         f"{' '.join(cmd)}` (or build without synthetic voices: --no-synthetic)")
    log(f"installing {' '.join(packages)} (apt-get install; --no-install forbids this)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run(cmd, "apt-get install", env=env)
    except BuildError:
        _run(["apt-get", "update"], "apt-get update", env=env)
        _run(cmd, "apt-get install", env=env)


# ---- packages -----------------------------------------------------------------------------------

def download_and_unpack(cache: Path, packages: list[str], jobs: int) -> dict[str, Path]:
    """``apt-get download`` + ``dpkg -x`` each package (skipping finished ones); returns pkg -> root."""
    from tqdm import tqdm

    require_apt()
    debs, unpacked = cache / "debs", cache / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    todo = [p for p in packages if not glob.glob(str(debs / f"{p}_*.deb"))]
    if todo:
        log(f"downloading {len(todo)} Debian package(s) with apt-get download: {' '.join(todo)}")
        r = subprocess.run(["apt-get", "download", *todo], cwd=debs, capture_output=True, text=True)
        if r.returncode != 0:  # maybe stale lists: update once, then name the package that fails
            subprocess.run(["apt-get", "update"], capture_output=True)
            for p in todo:
                if glob.glob(str(debs / f"{p}_*.deb")):
                    continue
                r = subprocess.run(["apt-get", "download", p], cwd=debs, capture_output=True, text=True)
                if r.returncode != 0:
                    raise BuildError(f"apt-get download {p} failed: {r.stderr.strip()[-400:]} (is the Debian "
                                     f"archive reachable? try `apt-get update`)")
    roots = {}
    for p in tqdm(packages, desc="unpack", unit="pkg"):
        root = unpacked / p
        done = root / ".kboost-unpacked"
        if not done.exists():
            deb = sorted(glob.glob(str(debs / f"{p}_*.deb")))[-1]
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            _run(["dpkg", "-x", deb, str(root)], f"dpkg -x {Path(deb).name}")
            done.write_text(Path(deb).name)
        roots[p] = root
    return roots


# ---- decoding and segmentation ------------------------------------------------------------------

def decode_ffmpeg(path: Path, fmt: str | None = None) -> np.ndarray:
    """Any ffmpeg-readable file (``fmt`` forces a raw demuxer: g722, gsm) -> float32 mono 16 kHz."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error"] + (["-f", fmt] if fmt else []) + \
        ["-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    return np.frombuffer(_run(cmd, f"decoding {path}").stdout, np.float32).copy()


def resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)


def decode_sndfile(path: Path) -> np.ndarray:
    import soundfile as sf

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), rate)


def decode(path: Path, codec: str) -> np.ndarray:
    if codec in ("g722", "gsm"):
        return decode_ffmpeg(path, codec)
    if codec == "sndfile":
        return decode_sndfile(path)
    raise ValueError(f"unknown codec {codec!r}")


def _frame_db(x: np.ndarray, hop: int) -> np.ndarray:
    n = len(x) // hop
    if n == 0:
        return np.full(1, -200.0)
    f = x[: n * hop].astype(np.float64).reshape(n, hop)
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-12)


def speech_segments(x: np.ndarray, sample_rate: int = SAMPLE_RATE, top_db: float = 40.0,
                    max_seconds: float = 8.0, min_seconds: float = 0.3, min_gap_s: float = 0.15,
                    margin_s: float = 0.05) -> list[np.ndarray]:
    """Trim silence and split long recordings into utterances at pauses.

    Frames of 10 ms more than ``top_db`` below the loudest frame are silent; active regions closer
    than ``min_gap_s`` are joined; consecutive regions are grouped into utterances of at most
    ``max_seconds`` (regions longer than that are cut hard); utterances shorter than ``min_seconds``
    are dropped. Each keeps ``margin_s`` of context either side.
    """
    hop = sample_rate // 100
    db = _frame_db(x, hop)
    active = db > db.max() - top_db
    if not active.any() or db.max() < -80:
        return []
    idx = np.flatnonzero(active)
    # active regions in frames, joined across short gaps
    regions, start, prev = [], idx[0], idx[0]
    gap = max(1, int(min_gap_s * 100))
    for i in idx[1:]:
        if i - prev > gap:
            regions.append((start, prev + 1))
            start = i
        prev = i
    regions.append((start, prev + 1))
    max_f = int(max_seconds * 100)
    pieces: list[tuple[int, int]] = []
    for a, b in regions:  # hard-cut over-long regions
        while b - a > max_f:
            pieces.append((a, a + max_f))
            a += max_f
        pieces.append((a, b))
    utts, cur = [], None
    for a, b in pieces:
        if cur is not None and b - cur[0] <= max_f:
            cur = (cur[0], b)
        else:
            if cur is not None:
                utts.append(cur)
            cur = (a, b)
    utts.append(cur)
    m = int(margin_s * sample_rate)
    out = []
    for a, b in utts:
        s, e = max(0, a * hop - m), min(len(x), b * hop + m)
        if e - s >= min_seconds * sample_rate:
            out.append(np.asarray(x[s:e], np.float32))
    return out


# ---- real speakers ------------------------------------------------------------------------------

def _files(roots: dict[str, Path], packages, pattern: str, name_regex: str | None = None) -> list[Path]:
    files: list[Path] = []
    for p in packages:
        found = sorted(Path(f) for f in glob.glob(str(roots[p] / pattern), recursive=True))
        if name_regex:
            found = [f for f in found if re.search(name_regex, f.name)]
        files.extend(found)
    return files


def build_real(cache: Path, roots: dict[str, Path], jobs: int) -> None:
    from tqdm import tqdm

    for spk in sources.REAL_SPEAKERS:
        if (cache / "speech" / f"{spk.id}.json").exists():
            continue
        files = _files(roots, spk.packages, spk.pattern, spk.name_regex)
        if not files:
            raise BuildError(f"speaker {spk.id}: no files matching {spk.pattern} in {', '.join(spk.packages)}")
        with ThreadPoolExecutor(jobs) as ex:
            decoded = list(tqdm(ex.map(lambda f: decode(f, spk.codec), files), total=len(files),
                                desc=f"decode {spk.id}", unit="file"))
        utts, names = [], []
        for f, x in zip(files, decoded):
            for k, u in enumerate(speech_segments(x)):
                utts.append(u)
                names.append(f"{f.parent.name}/{f.stem}#{k}")
        write_speaker(cache, spk.id, utts, kind="real", split=sources.speaker_split(spk.id), sex=spk.sex,
                      lang=spk.lang, source=" + ".join(spk.packages), names=names,
                      extra={"licence": spk.licence, "native_rate": spk.native_rate,
                             "band_limited": spk.native_rate < SAMPLE_RATE},
                      enroll_seed=zlib.crc32(spk.id.encode()))


# ---- synthetic speakers -------------------------------------------------------------------------

def sentences(roots: dict[str, Path]) -> list[str]:
    """Short ASCII fortunes (40-300 characters), one line each, attribution lines removed."""
    out: list[str] = []
    for p in sources.TEXT_PACKAGES:
        for f in sorted(glob.glob(str(roots[p] / "usr/share/games/fortunes/*"))):
            if "." in Path(f).name or not os.path.isfile(f):
                continue
            text = Path(f).read_bytes().decode("ascii", errors="replace")
            for fortune in text.split("\n%\n"):
                lines = [ln.strip() for ln in fortune.splitlines()
                         if ln.strip() and not ln.strip().startswith("--")]
                s = " ".join(lines)
                if (40 <= len(s) <= 300 and "\ufffd" not in s and sum(c.isalpha() for c in s) > 0.7 * len(s)
                        and not re.search(r"[|_<>{}\\#@~^*=]", s)):
                    out.append(s)
    out = sorted(set(out))
    if len(out) < 100:
        raise BuildError(f"only {len(out)} sentences found in the fortunes packages")
    return out


def _festival_voice_ok(voice: str) -> bool:
    return bool(glob.glob(f"/usr/share/festival/voices/*/{voice}"))


def ensure_engines(voices, allow_install: bool) -> None:
    missing: list[str] = []
    for engine in sorted({v.engine for v in voices}):
        exe = "text2wave" if engine == "festival" else engine
        if shutil.which(exe) is None:
            missing.extend(sources.ENGINE_PACKAGES[engine])
    for v in voices:
        if v.engine == "festival" and not _festival_voice_ok(v.voice):
            missing.append(sources.FESTIVAL_VOICE_PACKAGES[v.voice])
    if missing:
        apt_install(sorted(set(missing)), allow_install)


def synthesise(voice: sources.SyntheticVoice, text: str, workdir: Path) -> np.ndarray:
    """``text`` read by ``voice`` -> float32 mono 16 kHz."""
    txt, wav = workdir / "text.txt", workdir / "out.wav"
    txt.write_text(text + "\n", encoding="latin-1", errors="replace")
    if voice.engine == "espeak-ng":
        _run(["espeak-ng", "-v", f"en-us+{voice.voice}", "-w", str(wav), "-f", str(txt)], f"espeak-ng {voice.id}")
    elif voice.engine == "flite":
        _run(["flite", "-voice", voice.voice, "-f", str(txt), "-o", str(wav)], f"flite {voice.id}")
    elif voice.engine == "festival":
        _run(["text2wave", "-eval", f"(voice_{voice.voice})", "-o", str(wav), str(txt)], f"festival {voice.id}")
    else:
        raise ValueError(f"unknown engine {voice.engine}")
    return decode_sndfile(wav)


def build_synthetic(cache: Path, roots: dict[str, Path], jobs: int, minutes: float, allow_install: bool) -> None:
    from tqdm import tqdm

    todo = [v for v in sources.SYNTHETIC_VOICES if not (cache / "speech" / f"{v.id}.json").exists()]
    if not todo:
        return
    ensure_engines(todo, allow_install)
    corpus = sentences(roots)
    bar = tqdm(total=int(len(todo) * minutes * 60), desc="synthesise", unit="s of speech")

    skipped: dict[str, int] = {}

    def one(voice: sources.SyntheticVoice) -> None:
        rng = np.random.default_rng(zlib.crc32(voice.id.encode()))
        order = rng.permutation(len(corpus))
        utts, names, total, pos = [], [], 0.0, 0
        with tempfile.TemporaryDirectory(dir=cache) as td:
            while total < minutes * 60 and pos < len(order):
                batch = [corpus[i] for i in order[pos:pos + 12]]
                try:
                    segs = speech_segments(synthesise(voice, "\n\n".join(batch), Path(td)))
                except BuildError:  # some engines crash on some text (festival ked): one by one, skip those
                    segs = []
                    for sentence in batch:
                        try:
                            segs.extend(speech_segments(synthesise(voice, sentence, Path(td))))
                        except BuildError:
                            skipped[voice.id] = skipped.get(voice.id, 0) + 1
                            if skipped[voice.id] > 50:
                                raise
                for k, u in enumerate(segs):
                    utts.append(u)
                    names.append(f"b{pos // 12:04d}#{k}")
                dur = sum(len(u) for u in segs) / SAMPLE_RATE
                total += dur
                bar.update(int(min(total, minutes * 60)) - int(min(total - dur, minutes * 60)))
                pos += 12
        if not utts:
            raise BuildError(f"voice {voice.id} produced no speech")
        write_speaker(cache, voice.id, utts, kind="synthetic", split=sources.speaker_split(voice.id), sex=voice.sex,
                      lang=voice.lang, source=f"{voice.engine}:{voice.voice}", names=names,
                      extra={"licence": f"synthesised with {voice.engine} (text: fortunes)"},
                      enroll_seed=zlib.crc32(voice.id.encode()))

    with ThreadPoolExecutor(jobs) as ex:
        list(ex.map(one, todo))
    bar.close()
    for vid, n in sorted(skipped.items()):
        log(f"{vid}: skipped {n} sentence(s) the synthesiser failed on")


# ---- noise --------------------------------------------------------------------------------------

def build_noise(cache: Path, roots: dict[str, Path], jobs: int) -> None:
    from tqdm import tqdm

    for src in sources.NOISE_SOURCES:
        if (cache / "noise" / f"{src.id}.json").exists():
            continue
        files = _files(roots, (src.package,), src.pattern)
        if not files:
            raise BuildError(f"noise {src.id}: no files matching {src.pattern} in {src.package}")
        with ThreadPoolExecutor(jobs) as ex:
            decoded = list(tqdm(ex.map(lambda f: decode(f, src.codec), files), total=len(files),
                                desc=f"decode {src.id}", unit="file"))
        items = [(f.name, sources.noise_file_split(f"{src.id}/{f.name}"), x)
                 for f, x in zip(files, decoded) if len(x) >= SAMPLE_RATE // 10 and np.any(x)]
        write_noise(cache, src.id, items, category=src.category, licence=src.licence)


# ---- attribution --------------------------------------------------------------------------------

ATTRIBUTION_HEADER = """\
kboost offline data cache: attribution
=======================================
This cache was built by `kboost data build` from the Debian packages listed below. The audio is the
work of its authors, redistributed under their licences; keep this file with any copy of the cache.

- asterisk-core-sounds-*-g722, asterisk-moh-opsound-g722: Digium / the voice talents (Allison Smith,
  June Wallack, Carlo Flamini, IvrvoiceRU), CC-BY-SA-3.0 (*: derivatives must carry the same licence
  and the attribution).
- asterisk-prompt-it-menardi-wav: Marco Menardi and Paola Dal Zot, CC-BY-SA-3.0 Italian; the authors
  ask that the end user is told the sounds are theirs, see http://www.voip.ammdomus.it
- asterisk-prompt-fr-armelle (Armelle Desjardins), asterisk-prompt-es-co (July E. Jimenez, Avatar
  Ltda.): GPL-2+.
- fillets-ng-data, fillets-ng-data-cs, fillets-ng-data-nl: Fish Fillets NG, Altar Interactive and the
  translators, GPL-2+ (voices and music).
- sonic-pi-samples: CC0 / CC-BY-SA-4.0 / MIT (per file, see below); etw-data: GPL-2+.
- Synthetic voices: espeak-ng (GPL-3+), flite (BSD-like), festival and festvox voices (various free
  licences, see their packages) reading sentences of the fortunes package.

The full copyright file of every source package follows.
"""


def write_attribution(cache: Path, roots: dict[str, Path]) -> Path:
    parts = [ATTRIBUTION_HEADER]
    for p, root in sorted(roots.items()):
        for c in sorted(glob.glob(str(root / "usr/share/doc/*/copyright"))):
            parts.append(f"\n{'=' * 100}\n{p}: {Path(c).relative_to(root)}\n{'=' * 100}\n")
            parts.append(Path(c).read_text(errors="replace"))
    # the synthesisers and voices are installed, not unpacked: their copyright files from the system
    installed = [p for ps in sources.ENGINE_PACKAGES.values() for p in ps] + \
        sorted(set(sources.FESTIVAL_VOICE_PACKAGES.values()))
    for p in installed:
        c = Path("/usr/share/doc") / p / "copyright"
        if c.is_file():
            parts.append(f"\n{'=' * 100}\n{p} (installed synthesiser / voice): {c}\n{'=' * 100}\n")
            parts.append(c.read_text(errors="replace"))
    path = cache / "ATTRIBUTION"
    path.write_text("".join(parts))
    return path


# ---- the command --------------------------------------------------------------------------------

def summary(manifest: dict) -> str:
    sp = manifest["speakers"]
    lines = []
    for split in ("train", "val", "test"):
        for kind in ("real", "synthetic"):
            ids = [k for k in manifest["splits"][split] if sp[k]["kind"] == kind]
            mins = sum(sp[k]["seconds"] for k in ids) / 60
            lines.append(f"  {split:5s} {kind:9s}: {len(ids):3d} speakers, {mins:7.1f} min")
    total = sum(v["seconds"] for v in sp.values()) / 60
    n_utt = sum(v["n_utterances"] for v in sp.values())
    lines.append(f"  total: {len(sp)} speakers, {n_utt} utterances, {total:.1f} min of speech")
    for split in ("val", "test"):
        held = [f"{k} ({sp[k]['kind']}, {sp[k].get('sex') or '?'})" for k in manifest["splits"][split]]
        lines.append(f"  held out for {split}: {', '.join(held)}")
    for nid, n in manifest.get("noise", {}).items():
        secs = ", ".join(f"{s} {v / 60:.1f} min" for s, v in sorted(n["seconds"].items()))
        lines.append(f"  noise {nid} ({n['category']}): {n['n_items']} files, {secs}")
    return "\n".join(lines)


def build(cache: Path, jobs: int = 2, synthetic: bool = True, noise: bool = True, embeddings: bool = True,
          synthetic_minutes: float = 8.0, allow_install: bool = True) -> dict:
    """Build (or finish building) the cache; returns the manifest."""
    cache = Path(cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    ffmpeg_exe()  # fail early with the install hint
    packages = [p for s in sources.REAL_SPEAKERS for p in s.packages]
    if noise:
        packages += [n.package for n in sources.NOISE_SOURCES]
    if synthetic:
        packages += list(sources.TEXT_PACKAGES)
    roots = download_and_unpack(cache, list(dict.fromkeys(packages)), jobs)
    build_real(cache, roots, jobs)
    if synthetic:
        build_synthetic(cache, roots, jobs, synthetic_minutes, allow_install)
    if noise:
        build_noise(cache, roots, jobs)
    write_attribution(cache, roots)
    manifest = write_manifest(cache, held_out={k: list(v) for k, v in sources.HELD_OUT.items()})
    if embeddings:
        from kboost_train.data.embed import INSTALL_HINT, precompute, resemblyzer_available
        from kboost_train.data.store import Corpus

        if resemblyzer_available():
            precompute(Corpus(cache))
        else:
            log(f"resemblyzer not installed: TSE d-vectors not precomputed ({INSTALL_HINT})")
    return manifest


def add_arguments(parser) -> None:
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache directory (default: $KBOOST_DATA or ~/.cache/kboost/data)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel decoders / synthesisers (default 2)")
    parser.add_argument("--synthetic-minutes", type=float, default=8.0,
                        help="minutes of speech per synthetic voice (default 8)")
    parser.add_argument("--no-synthetic", action="store_true", help="real speakers only")
    parser.add_argument("--no-noise", action="store_true", help="skip music/effects noise recordings")
    parser.add_argument("--no-embeddings", action="store_true", help="do not precompute TSE d-vectors")
    parser.add_argument("--no-install", action="store_true",
                        help="never apt-get install missing synthesisers (say the command instead)")


def run(args) -> int:
    from kboost_train.data.store import default_cache_dir

    cache = (args.cache or default_cache_dir()).expanduser()
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    log(f"building the offline data cache in {cache}")
    try:
        manifest = build(cache, jobs=args.jobs, synthetic=not args.no_synthetic, noise=not args.no_noise,
                         embeddings=not args.no_embeddings, synthetic_minutes=args.synthetic_minutes,
                         allow_install=not args.no_install)
    except BuildError as e:
        print(f"kboost data build: error: {e}", file=sys.stderr)
        return 1
    log(f"built {cache}:\n{summary(manifest)}\n  licences: {cache / 'ATTRIBUTION'}")
    return 0
