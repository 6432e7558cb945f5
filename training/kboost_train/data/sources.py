"""The catalogue of offline speech and noise: which Debian package holds which speaker, the synthetic
voices, the noise sources and the held-out speaker lists (no torch, no I/O).

Everything here was checked on a machine of this kind (see ``docs/data.md``). Speaker ids are stable:
the cache, the held-out lists and evaluation reports all use them.

Held-out speakers (whole speakers, never segments of a training speaker):
- validation: one real woman (``ast-fr-june``) and four synthetic voices;
- test: one real woman and one real man (``ast-ru-ivr``, ``ast-it-carlo``) and six synthetic voices.
Voices that are the same identity in two engines (flite kal16 = festival kal_diphone, flite slt =
festival slt-HTS) are built once, from one engine, so one identity never straddles two splits.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RealSpeaker:
    """One recorded speaker inside Debian packages.

    ``pattern`` is a glob relative to each unpacked package root; ``name_regex`` (optional) keeps
    only files whose base name matches (fillets: ``-m-`` small fish, ``-v-`` big fish).
    ``codec`` is how the files are decoded: ``g722`` / ``gsm`` (raw, through ffmpeg), ``sndfile``
    (WAV/Ogg/FLAC through soundfile, resampled to 16 kHz).
    """

    id: str
    packages: tuple[str, ...]
    pattern: str
    codec: str
    sex: str  # "f" / "m"
    lang: str
    licence: str
    native_rate: int
    name_regex: str | None = None


@dataclass(frozen=True)
class SyntheticVoice:
    """One synthetic voice: ``engine`` in {espeak-ng, flite, festival}; ``voice`` is the engine's
    voice name (espeak-ng: the en-us variant, flite: -voice, festival: the voice_* function)."""

    id: str
    engine: str
    voice: str
    sex: str | None
    lang: str = "en"


@dataclass(frozen=True)
class NoiseSource:
    """Music / effects / crowd recordings in one Debian package (glob relative to its root)."""

    id: str
    package: str
    pattern: str
    codec: str
    category: str  # "music" / "effects" / "crowd"
    licence: str
    exclude_regex: str | None = None


_AST = "usr/share/asterisk/sounds"
_FISH = "usr/share/games/fillets-ng/sound/**/*.ogg"

REAL_SPEAKERS: tuple[RealSpeaker, ...] = (
    # en and es are the same woman (Allison): one speaker id.
    RealSpeaker("ast-en-allison", ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722"),
                f"{_AST}/**/*.g722", "g722", "f", "en+es", "CC-BY-SA-3.0", 16000),
    RealSpeaker("ast-fr-june", ("asterisk-core-sounds-fr-g722",), f"{_AST}/**/*.g722", "g722", "f", "fr",
                "CC-BY-SA-3.0", 16000),
    RealSpeaker("ast-it-carlo", ("asterisk-core-sounds-it-g722",), f"{_AST}/**/*.g722", "g722", "m", "it",
                "CC-BY-SA-3.0", 16000),
    RealSpeaker("ast-ru-ivr", ("asterisk-core-sounds-ru-g722",), f"{_AST}/**/*.g722", "g722", "f", "ru",
                "CC-BY-SA-3.0", 16000),
    # 8 kHz prompt sets: band-limited below 4 kHz after resampling to 16 kHz.
    RealSpeaker("ast-it-menardi", ("asterisk-prompt-it-menardi-wav",), f"{_AST}/**/*.wav", "sndfile", "f", "it",
                "CC-BY-SA-3.0 (Italian)", 8000),
    RealSpeaker("ast-fr-armelle", ("asterisk-prompt-fr-armelle",), f"{_AST}/**/*.gsm", "gsm", "f", "fr",
                "GPL-2+", 8000),
    RealSpeaker("ast-es-co-july", ("asterisk-prompt-es-co",), f"{_AST}/**/*.gsm", "gsm", "f", "es",
                "GPL-2+", 8000),
    # Fish Fillets dialogue: *-m-* is the small fish (a woman's voice), *-v-* the big fish (a man's).
    RealSpeaker("fish-cs-small", ("fillets-ng-data-cs",), _FISH, "sndfile", "f", "cs", "GPL-2+", 22050,
                r"^[^-]+-m-"),
    RealSpeaker("fish-cs-big", ("fillets-ng-data-cs",), _FISH, "sndfile", "m", "cs", "GPL-2+", 22050,
                r"^[^-]+-v-"),
    RealSpeaker("fish-nl-small", ("fillets-ng-data-nl",), _FISH, "sndfile", "f", "nl", "GPL-2+", 22050,
                r"^[^-]+-m-"),
    RealSpeaker("fish-nl-big", ("fillets-ng-data-nl",), _FISH, "sndfile", "m", "nl", "GPL-2+", 22050,
                r"^[^-]+-v-"),
)

# espeak-ng en-us variants: greedily picked so that no two have GE2E d-vectors (resemblyzer) with a
# cosine similarity above 0.8 on the same text (24 voices), plus four female variants under 0.85 to
# balance the sexes. Whispering and test variants were left out.
_ESPEAK = (
    ("adam", "m"), ("Alicia", "f"), ("Andrea", "f"), ("Andy", "m"), ("antonio", "m"), ("aunty", "f"),
    ("boris", "m"), ("david", "m"), ("Demonic", "m"), ("Diogo", "m"), ("edward", "m"), ("Gene", "m"),
    ("gustave", "m"), ("iven", "m"), ("Marco", "m"), ("Nguyen", "m"), ("RicishayMax", "m"),
    ("robosoft", "m"), ("robosoft6", "m"), ("steph", "f"), ("UniRobot", "m"), ("anika", "f"),
    ("sandro", "m"), ("shelby", "m"), ("Annie", "f"), ("belinda", "f"), ("f2", "f"), ("grandma", "f"),
)

SYNTHETIC_VOICES: tuple[SyntheticVoice, ...] = tuple(
    SyntheticVoice(f"espeak-{v.lower()}", "espeak-ng", v, s) for v, s in _ESPEAK
) + (
    SyntheticVoice("flite-awb", "flite", "awb", "m"),
    SyntheticVoice("flite-rms", "flite", "rms", "m"),
    SyntheticVoice("flite-slt", "flite", "slt", "f"),  # = festival cmu_us_slt_arctic_hts
    SyntheticVoice("flite-kal16", "flite", "kal16", "m"),  # = festival kal_diphone
    SyntheticVoice("festival-ked", "festival", "ked_diphone", "m"),
    SyntheticVoice("festival-it-lp", "festival", "lp_diphone", "f", "it"),
    SyntheticVoice("festival-it-pc", "festival", "pc_diphone", "m", "it"),
    SyntheticVoice("festival-cs-dita", "festival", "czech_dita", "f", "cs"),
    SyntheticVoice("festival-cs-machac", "festival", "czech_machac", "m", "cs"),
    SyntheticVoice("festival-fi-lj", "festival", "suo_fi_lj_diphone", "f", "fi"),
    SyntheticVoice("festival-fi-mv", "festival", "hy_fi_mv_diphone", "m", "fi"),
    SyntheticVoice("festival-ca-ona", "festival", "upc_ca_ona_hts", "f", "ca"),
)

# Debian packages that provide each engine / festival voice (installed, since they run programs).
ENGINE_PACKAGES = {"espeak-ng": ("espeak-ng",), "flite": ("flite",), "festival": ("festival",)}
FESTIVAL_VOICE_PACKAGES = {
    "ked_diphone": "festvox-kdlpc16k", "lp_diphone": "festvox-italp16k", "pc_diphone": "festvox-itapc16k",
    "czech_dita": "festvox-czech-dita", "czech_machac": "festvox-czech-machac",
    "suo_fi_lj_diphone": "festvox-suopuhe-lj", "hy_fi_mv_diphone": "festvox-suopuhe-mv",
    "upc_ca_ona_hts": "festvox-ca-ona-hts",
}
# The text the synthetic voices read (downloaded and unpacked like the speech, not installed).
TEXT_PACKAGES = ("fortunes", "fortunes-min")
TEXT_LICENCE = "fortunes: public domain / as marked in usr/share/doc/fortunes*/copyright"

NOISE_SOURCES: tuple[NoiseSource, ...] = (
    NoiseSource("moh-opsound", "asterisk-moh-opsound-g722", "usr/share/asterisk/moh/*.g722", "g722", "music",
                "CC-BY-SA-3.0"),
    NoiseSource("fillets-music", "fillets-ng-data", "usr/share/games/fillets-ng/music/*.ogg", "sndfile", "music",
                "GPL-2+"),
    NoiseSource("fillets-effects", "fillets-ng-data", "usr/share/games/fillets-ng/sound/share/**/*.ogg",
                "sndfile", "effects", "GPL-2+"),
    NoiseSource("sonic-pi", "sonic-pi-samples", "usr/share/sonic-pi/samples/*.flac", "sndfile", "effects",
                "CC0 / CC-BY-SA-4.0 / MIT (see copyright)"),
    NoiseSource("etw-crowd", "etw-data", "usr/share/games/etw/crowd/*.wav", "sndfile", "crowd", "GPL-2+"),
)

HELD_OUT: dict[str, tuple[str, ...]] = {
    "val": ("ast-fr-june", "espeak-andrea", "espeak-gustave", "espeak-robosoft", "festival-it-pc"),
    "test": ("ast-ru-ivr", "ast-it-carlo", "espeak-alicia", "espeak-david", "espeak-shelby", "espeak-annie",
             "flite-slt", "festival-cs-machac"),
}


def speaker_split(speaker_id: str) -> str:
    """The split ("train", "val", "test") a catalogue speaker belongs to."""
    for split, ids in HELD_OUT.items():
        if speaker_id in ids:
            return split
    return "train"


def all_speaker_ids() -> list[str]:
    return [s.id for s in REAL_SPEAKERS] + [v.id for v in SYNTHETIC_VOICES]


def noise_file_split(name: str) -> str:
    """Split of one noise file, stable across machines: 80/10/10 by a hash of its name."""
    import zlib

    h = zlib.crc32(name.encode()) % 10
    return "val" if h == 0 else "test" if h == 1 else "train"


def all_packages() -> list[str]:
    """Every Debian package the builder downloads (not installs)."""
    pk: list[str] = []
    for s in REAL_SPEAKERS:
        pk.extend(s.packages)
    pk.extend(n.package for n in NOISE_SOURCES)
    pk.extend(TEXT_PACKAGES)
    return list(dict.fromkeys(pk))


def _check_catalogue() -> None:
    ids = all_speaker_ids()
    assert len(ids) == len(set(ids)), "duplicate speaker id"
    for split, held in HELD_OUT.items():
        missing = set(held) - set(ids)
        assert not missing, f"held-out {split} speakers not in the catalogue: {missing}"


_check_catalogue()
