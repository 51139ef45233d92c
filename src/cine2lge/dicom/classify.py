"""Which series of a study is the short-axis cine, which the short-axis LGE, which the T2.

Rules (the config `ingest` section tunes them; docs/architecture.md summarises them):
1. A series is a *stack* when all its frames are parallel; localisers and parametric maps
   (ImageType LOCALIZER, an ImageType value ending in MAP such as "T2 MAP", or a
   SeriesDescription matching `exclude_description`: "T2 map", "T2map", "T1_MAP_SAX",
   "mapping", MOLLI) and non-parallel series are never chosen.
2. A stack is *cine* when its slice positions carry >= `min_cine_phases` trigger times, *single*
   when every position holds exactly one frame.
3. Single-position cine series sharing orientation, matrix, spacing and phase count, and
   single-phase series (one or more positions) sharing orientation, matrix, spacing, description
   (digits ignored) and PSIR-ness are merged: a cine or LGE acquired as one series per slice
   position, or an LGE slice repeated in a series of its own. A position present in several
   merged single-phase series is taken from the latest SeriesNumber (the repeat).
4. Short-axis cine: explicit SeriesInstanceUIDs (sheet column `cine_series`) win; otherwise the
   cine stack with the most slice positions (>= `min_slices`) among those matching
   `cine_description`. A tie is an error (ambiguous), as is no candidate.
5. Short-axis LGE: explicit UIDs (sheet column `lge_series`) win; otherwise single-phase stacks
   with an InversionTime or a description matching `lge_description`, >= `min_lge_slices`
   positions, within `lge_max_angle_deg` of the cine's slice normal (long-axis LGE excluded).
   A stack named like a T2 (`t2_description`) counts only when its name also matches
   `lge_description`: a T2-STIR carries an InversionTime too, so the InversionTime alone does
   not make it an LGE, while a name saying LGE ("LGE T2-prep PSIR") outweighs one saying T2.
   Among several: first the kind listed first in `lge_prefer` (psir | magnitude), then the most
   slices, then the latest SeriesNumber.
6. Short-axis T2-weighted stack (optional role `t2`): explicit UIDs (sheet column `t2_series`)
   win; otherwise single-phase stacks whose description matches `t2_description` and not
   `lge_description` (the one that names both is the LGE, rule 5), >= `min_lge_slices`
   positions, within `lge_max_angle_deg` of the cine's slice normal. Among several: the most
   slices, then the latest SeriesNumber. T2 maps are excluded by rule 1."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from cine2lge.dicom import IngestError
from cine2lge.dicom.discover import Frame, Series, Study
from cine2lge.geometry import slice_normal

DEFAULTS = {
    "cine_description": "",
    "lge_description": r"(?i)(lge|psir|\bde\b|delay|late|viab|mde|pssr|enhanc)",
    "t2_description": r"(?i)(t2(?!\s*\*|\s*star)|stir|tirm|tse|fse|haste|o?edema)",
    "exclude_description": (
        r"(?i)(locali[sz]er|scout|survey|3[- ]?plane|pilot|map(s|ping)?(?![a-z])|molli)"
    ),
    "lge_prefer": ["magnitude", "psir"],
    "min_cine_phases": 5,
    "min_slices": 3,
    "min_lge_slices": 2,
    "max_angle_deg": 1.0,
    "lge_max_angle_deg": 30.0,
    "position_tolerance_mm": 0.1,
}


@dataclass
class Stack:
    """One or several series forming a candidate volume."""

    series: list[Series]
    frames: list[Frame]
    kind: str  # cine | single | other
    n_positions: int
    n_phases: int
    normal: np.ndarray
    psir: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return max(s.number for s in self.series)

    @property
    def description(self) -> str:
        return self.series[0].description

    def summary(self) -> str:
        numbers = ",".join(str(s.number) for s in self.series[:4])
        more = f"+{len(self.series) - 4}" if len(self.series) > 4 else ""
        return (
            f"series {numbers}{more} {self.series[0].safe_description!r} ({self.kind},"
            f" {self.n_positions}"
            f" positions x {self.n_phases} phases, {len(self.frames)} frames)"
        )


def settings(overrides: dict | None) -> dict:
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in (overrides or {}).items() if k in DEFAULTS})
    return merged


def angle_deg(normal_a: np.ndarray, normal_b: np.ndarray) -> float:
    """Angle between two slice normals, ignoring their sign."""
    cosine = abs(float(np.dot(normal_a, normal_b)))
    return float(np.degrees(np.arccos(min(1.0, cosine))))


def position_groups(frames: list[Frame], normal: np.ndarray, tolerance_mm: float) -> list[list]:
    """Frames grouped by slice position along `normal`, in ascending position order."""
    distance = np.array([f.position_lps for f in frames]) @ normal
    order = np.argsort(distance, kind="stable")
    groups, last = [], None
    for i in order:
        if last is None or distance[i] - last > tolerance_mm:
            groups.append([])
        groups[-1].append(frames[i])
        last = distance[i]
    return groups


def _is_psir(series: Series) -> bool:
    return "PSIR" in series.image_type or bool(re.search(r"(?i)psir", series.description))


def _is_localiser(series: Series, exclude: str) -> bool:
    """A localiser or a parametric map (ImageType "T2 MAP", "T1MAP", ...): never chosen."""
    return (
        "LOCALIZER" in series.image_type
        or any(value.endswith("MAP") for value in series.image_type)
        or bool(exclude and re.search(exclude, series.description))
    )


def frame_normals(frames: list[Frame]) -> np.ndarray:
    """Unit slice normals (n, 3) of frames, LPS (vectorised: studies have thousands of frames)."""
    orientation = np.array([f.orientation for f in frames], dtype=float)
    normals = np.cross(orientation[:, :3], orientation[:, 3:])
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def describe(series_list: list[Series], cfg: dict) -> Stack:
    frames = [f for s in series_list for f in s.frames]
    normals = frame_normals(frames)
    # Reference plane: the most common one, so that one odd file cannot disqualify a series
    # (conversion then names it); a series mostly out of that plane is no stack (localiser).
    keys = [tuple(np.round(n * np.sign(n[np.argmax(np.abs(n))]), 2)) for n in normals]
    normal = normals[keys.index(max(set(keys), key=keys.count))]
    stack = Stack(series_list, frames, "other", 0, 0, normal, psir=_is_psir(series_list[0]))
    angles = np.degrees(np.arccos(np.clip(np.abs(normals @ normal), 0, 1)))
    if np.mean(angles > cfg["max_angle_deg"]) > 0.5 * (len(frames) > 2):
        stack.notes.append(f"non-parallel frames (up to {angles.max():.1f} deg)")
        return stack
    groups = position_groups(frames, normal, cfg["position_tolerance_mm"])
    phases = [len({f.trigger_time_ms for f in g}) for g in groups]
    stack.n_positions = len(groups)
    stack.n_phases = int(np.median(phases))
    if all(len(g) == 1 for g in groups):
        stack.kind, stack.n_phases = "single", 1
    elif stack.n_phases >= cfg["min_cine_phases"]:
        stack.kind = "cine"
    return stack


def _merge_key(stack: Stack) -> tuple:
    first = stack.frames[0]
    geometry = (
        tuple(np.round(first.orientation, 2)),
        first.rows,
        first.columns,
        tuple(np.round(first.pixel_spacing, 3)),
    )
    if stack.kind == "cine":
        return ("cine", *geometry, stack.n_phases)
    return ("single", *geometry, re.sub(r"\d+", "", stack.description).strip().lower(), stack.psir)


def _latest_per_position(stack: Stack, cfg: dict) -> Stack:
    """Merged single-phase series: keep each position's frame from the latest series."""
    number = {id(f): s.number for s in stack.series for f in s.frames}
    groups = position_groups(stack.frames, stack.normal, cfg["position_tolerance_mm"])
    kept = [max(g, key=lambda f: number[id(f)]) for g in groups]
    if len(kept) < len(stack.frames):
        stack.notes.append(
            f"{len(stack.frames) - len(kept)} repeated slice position(s): latest series kept"
        )
    stack.frames = kept
    return stack


def candidate_stacks(study: Study, cfg: dict) -> list[Stack]:
    """Stacks of a study: each multi-position series, plus merged single-position series."""
    stacks, singles = [], defaultdict(list)
    for series in sorted(study.series.values(), key=lambda s: s.number):
        if _is_localiser(series, cfg["exclude_description"]):
            continue
        stack = describe([series], cfg)
        if stack.kind == "other":
            continue
        if stack.n_positions == 1 or stack.kind == "single":
            singles[_merge_key(stack)].append(series)
        else:
            stacks.append(stack)
    for key, group in singles.items():
        merged = describe(group, cfg)
        if key[0] == "single" and len(group) > 1:
            merged.kind, merged.n_phases = "single", 1
            merged = _latest_per_position(merged, cfg)
            merged.n_positions = len(merged.frames)
        if len(group) > 1:
            merged.notes.append(f"merged from {len(group)} series")
        stacks.append(merged)
    return stacks


def _explicit(study: Study, uids: list[str], subject: str, role: str, cfg: dict) -> Stack:
    missing = [u for u in uids if u not in study.series]
    if missing:
        raise IngestError(
            f"subject {subject}: study {study.folder}: {len(missing)} {role} SeriesInstanceUID(s)"
            f" from the sheet not found among the {len(study.series)} series of the folder"
        )
    stack = describe([study.series[u] for u in uids], cfg)
    stack.notes.append(f"{role} chosen by explicit SeriesInstanceUID")
    return stack


def _listing(stacks: list[Stack]) -> str:
    return "; ".join(s.summary() for s in stacks) or "none"


def choose_cine(
    study: Study, subject: str, overrides: dict | None = None, uids: list[str] | None = None
) -> Stack:
    """The short-axis cine stack of a study (rule 4 of the module docstring)."""
    cfg = settings(overrides)
    if uids:
        return _explicit(study, uids, subject, "cine", cfg)
    stacks = candidate_stacks(study, cfg)
    cines = [s for s in stacks if s.kind == "cine" and s.n_positions >= cfg["min_slices"]]
    if cfg["cine_description"]:
        cines = [s for s in cines if re.search(cfg["cine_description"], s.description)]
    if not cines:
        raise IngestError(
            f"subject {subject}: study {study.folder}: no short-axis cine found (a stack of >="
            f" {cfg['min_slices']} slice positions with >= {cfg['min_cine_phases']} phases);"
            f" candidate stacks: {_listing(stacks)}"
        )
    most = max(s.n_positions for s in cines)
    best = [s for s in cines if s.n_positions == most]
    if len(best) > 1:
        raise IngestError(
            f"subject {subject}: study {study.folder}: ambiguous short-axis cine, {len(best)}"
            f" stacks with {most} positions: {_listing(best)}; set ingest.cine_description or the"
            " sheet column cine_series"
        )
    return best[0]


def choose_lge(
    study: Study,
    subject: str,
    overrides: dict | None = None,
    uids: list[str] | None = None,
    cine_normal: np.ndarray | None = None,
) -> Stack:
    """The short-axis LGE stack of a study (rule 5 of the module docstring)."""
    cfg = settings(overrides)
    if uids:
        return _explicit(study, uids, subject, "lge", cfg)
    stacks = candidate_stacks(study, cfg)

    def looks_like_lge(stack: Stack) -> bool:
        named = bool(re.search(cfg["lge_description"], stack.description))
        if _named_t2(stack, cfg):  # a T2-STIR has an InversionTime too
            return named
        has_ti = any((f.inversion_time_ms or 0) > 0 for f in stack.frames[:1])
        return has_ti or named

    lges = _short_axis_singles(stacks, cfg, cine_normal, looks_like_lge)
    if not lges:
        raise IngestError(
            f"subject {subject}: study {study.folder}: no short-axis LGE found (single-phase stack"
            f" of >= {cfg['min_lge_slices']} positions with an InversionTime or a description"
            f" matching {cfg['lge_description']!r}); candidate stacks: {_listing(stacks)}"
        )
    prefer = [str(k).lower() for k in cfg["lge_prefer"]]

    def rank(stack: Stack):
        kind = "psir" if stack.psir else "magnitude"
        preference = prefer.index(kind) if kind in prefer else len(prefer)
        return (-preference, stack.n_positions, stack.number)

    chosen = max(lges, key=rank)
    if len(lges) > 1:
        chosen.notes.append(
            f"{len(lges)} LGE candidates ({_listing(lges)}): chose by lge_prefer, most slices,"
            " latest SeriesNumber"
        )
    return chosen


def _short_axis_singles(stacks: list[Stack], cfg: dict, cine_normal, keep) -> list[Stack]:
    """Single-phase stacks of >= min_lge_slices positions that `keep` accepts, within
    lge_max_angle_deg of the cine's normal (long-axis stacks excluded)."""
    found = [
        s
        for s in stacks
        if s.kind == "single" and s.n_positions >= cfg["min_lge_slices"] and keep(s)
    ]
    if cine_normal is not None:
        found = [s for s in found if angle_deg(s.normal, cine_normal) <= cfg["lge_max_angle_deg"]]
    return found


def _named_t2(stack: Stack, cfg: dict) -> bool:
    return bool(cfg["t2_description"] and re.search(cfg["t2_description"], stack.description))


def choose_t2(
    study: Study,
    subject: str,
    overrides: dict | None = None,
    uids: list[str] | None = None,
    cine_normal: np.ndarray | None = None,
) -> Stack:
    """The short-axis T2-weighted stack of a study (rule 6 of the module docstring)."""
    cfg = settings(overrides)
    if uids:
        return _explicit(study, uids, subject, "t2", cfg)
    stacks = candidate_stacks(study, cfg)
    t2s = _short_axis_singles(
        stacks,
        cfg,
        cine_normal,
        lambda s: _named_t2(s, cfg) and not re.search(cfg["lge_description"], s.description),
    )
    if not t2s:
        raise IngestError(
            f"subject {subject}: study {study.folder}: no short-axis T2-weighted stack found"
            f" (single-phase stack of >= {cfg['min_lge_slices']} positions with a description"
            f" matching {cfg['t2_description']!r} and not {cfg['lge_description']!r}); set"
            f" ingest.t2_description or the sheet column t2_series; candidate stacks:"
            f" {_listing(stacks)}"
        )
    chosen = max(t2s, key=lambda stack: (stack.n_positions, stack.number))
    if len(t2s) > 1:
        chosen.notes.append(
            f"{len(t2s)} T2 candidates ({_listing(t2s)}): chose most slices, latest SeriesNumber"
        )
    return chosen


def stray_slices(study: Study, stack: Stack, overrides: dict | None = None) -> list[str]:
    """Single-phase images of other series that would fill a slot of `stack`'s slice grid (one
    step beyond either end, or a gap): an LGE slice stored in a series of its own, or a file whose
    SeriesInstanceUID was damaged. Returned as descriptions for warnings. Localisers, maps and
    series named like a T2 (rule 6) are other acquisitions, not strays."""
    cfg = settings(overrides)
    first, normal = stack.frames[0], stack.normal
    used = np.sort(np.array([f.position_lps for f in stack.frames]) @ normal)
    step = float(np.min(np.diff(used))) if len(used) > 1 else 0.0
    chosen = {s.uid for s in stack.series}
    found = []
    for series in study.series.values():
        if series.uid in chosen or _is_localiser(series, cfg["exclude_description"]):
            continue
        stack = describe([series], cfg)
        if stack.kind != "single" or (
            _named_t2(stack, cfg) and not re.search(cfg["lge_description"], stack.description)
        ):
            continue
        for frame in series.frames:
            if (frame.rows, frame.columns) != (first.rows, first.columns) or angle_deg(
                normal, slice_normal(np.array(frame.orientation))
            ) > cfg["max_angle_deg"]:
                continue
            distance = float(np.dot(frame.position_lps, normal))
            if step == 0 or np.min(np.abs(used - distance)) <= cfg["position_tolerance_mm"]:
                continue
            slot = (distance - used[0]) / step
            on_grid = abs(slot - round(slot)) < 0.1 and -1 <= round(slot) <= len(used)
            if on_grid:
                found.append(
                    f"file {frame.name} (series {series.number}"
                    f" {series.safe_description!r}) lies on the slice grid but is not used"
                )
    return found
