"""Cardiac motion of the phantom: the contraction curve over one RR interval and wall kinematics.

`contraction` is 0 at end-diastole (trigger time 0) and 1 at end-systole; the wall model keeps
the idea that matters for the model: normal myocardium thickens by `thickening` (30-50 %) at
end-systole, impaired myocardium (`impairment` 1 = akinetic) thickens proportionally less and
its endocardium moves inwards less.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

# Volume-curve shape: fast systole to end-systole at 35 % of RR, rapid filling, diastasis,
# atrial kick. Knots are repeated one period either side so the curve is smooth across RR.
_KNOTS = np.array([0.0, 0.17, 0.35, 0.48, 0.62, 0.85, 1.0])
_VALUES = np.array([0.0, 0.6, 1.0, 0.6, 0.22, 0.13, 0.0])
_CURVE = PchipInterpolator(
    np.concatenate([_KNOTS[:-1] - 1.0, _KNOTS, _KNOTS[1:] + 1.0]),
    np.concatenate([_VALUES[:-1], _VALUES, _VALUES[1:]]),
)
END_SYSTOLE_FRACTION = 0.35
LGE_TRIGGER_FRACTION = 0.75  # LGE is acquired in mid-diastole (diastasis)


def contraction(cycle_fraction: np.ndarray | float) -> np.ndarray:
    """Contraction state in [0, 1] at a fraction of the RR interval (periodic)."""
    fraction = np.mod(np.asarray(cycle_fraction, dtype=float), 1.0)
    return np.clip(_CURVE(fraction), 0.0, 1.0)


def phase_fractions(n_phases: int) -> np.ndarray:
    """Cycle fraction of each cine phase (retrospective gating, phase 0 at the R wave)."""
    return np.arange(n_phases) / n_phases


def end_systolic_phase(n_phases: int) -> int:
    return int(np.argmax(contraction(phase_fractions(n_phases))))


def wall_radii(
    endo_ed_mm: np.ndarray,
    epi_ed_mm: np.ndarray,
    contraction_state: np.ndarray,
    thickening: float,
    epi_shrink: float,
    impairment: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Endocardial and epicardial radii (mm) at a contraction state.

    Wall thickness grows by `thickening * (1 - impairment) * contraction`; the epicardium moves
    inwards by `epi_shrink` (less where impaired) and the endocardium follows from the thickness.
    All arguments broadcast against each other.
    """
    thickness_ed = epi_ed_mm - endo_ed_mm
    preserved = 1.0 - impairment
    epi = epi_ed_mm * (1.0 - epi_shrink * contraction_state * (1.0 - 0.6 * impairment))
    thickness = thickness_ed * (1.0 + thickening * preserved * contraction_state)
    endo = np.maximum(epi - thickness, 0.0)
    return endo, epi
