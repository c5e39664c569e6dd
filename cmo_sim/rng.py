"""Counter-based random numbers: every draw is a pure function of its coordinates.

A draw is ``uniform(run_key, step, stream, i, j)`` where ``run_key`` hashes ``(seed, replicate)``.
Nothing is sequential, so a run's draws do not depend on which batch, chunk, process, worker
or engine computes it; and two scenarios that share ``(seed, replicate)`` see the same numbers
(common random numbers). The hash is the SplitMix64 finaliser (Steele, Lea & Flood 2014), applied
to the xor of two independently mixed 64-bit words, in numpy uint64 arithmetic.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "normalise_seed", "run_keys", "uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53
_MASK = (1 << 64) - 1


class Stream(IntEnum):
    """Named random streams; each mechanism draws from its own."""

    INITIAL_TRUST = 1
    INITIAL_FAITH = 2
    TASK = 3
    CONFLICT = 4
    RESOLUTION = 5
    TURNOVER = 6
    DEMERGER = 7
    JOIN = 8


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _mix_int(value: int) -> int:
    """The same finaliser on a Python int (for scalar counters)."""
    z = value & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def normalise_seed(seed: int | np.random.SeedSequence | np.random.Generator) -> int:
    """Turn a user's seed into one non-negative 64-bit integer, once.

    Accepts a non-negative int, a ``numpy.random.SeedSequence`` (its entropy is hashed) or a
    ``numpy.random.Generator`` (one 64-bit word is drawn from it).
    """
    if isinstance(seed, bool):
        raise ValueError(f"seed: {seed!r} is not an integer (allowed: int >= 0)")
    if isinstance(seed, int | np.integer):
        if not 0 <= seed <= _MASK:
            raise ValueError(f"seed: {seed} is out of range (allowed: 0 .. 2**64 - 1)")
        return int(seed)
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(2, dtype=np.uint64)[0])
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63, dtype=np.int64))
    raise ValueError(
        f"seed: {seed!r} is not allowed (an int >= 0, a numpy SeedSequence or Generator)"
    )


def run_keys(seed: int, replicates: np.ndarray) -> np.ndarray:
    """One uint64 key per run from the normalised seed and each run's replicate index."""
    base = np.uint64(_mix_int(_mix_int(seed) + 0x632BE59BD9B4E019))
    reps = np.asarray(replicates, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(base ^ _mix((reps + np.uint64(1)) * _GOLDEN))


def _counter(step: int, stream: int, i: np.ndarray | int, j: np.ndarray | int) -> np.ndarray:
    """Mixed counter word for (step, stream, i, j); small and cheap (no run axis)."""
    i = np.asarray(i, dtype=np.uint64)
    j = np.asarray(j, dtype=np.uint64)
    head = np.uint64(_mix_int((step & 0xFFFFFFFF) << 8 | (stream & 0xFF)))
    with np.errstate(over="ignore"):
        return _mix(head ^ _mix((i << np.uint64(32) | j) * _GOLDEN + _GOLDEN))


def uniform(
    keys: np.ndarray, step: int, stream: int, i: np.ndarray | int = 0, j: np.ndarray | int = 0
) -> np.ndarray:
    """Uniform draws in [0, 1) for each run key and each (i, j) counter.

    Parameters
    ----------
    keys : uint64 array, shape ``[runs]``
        From :func:`run_keys`.
    step, stream : int
        The step and the :class:`Stream`.
    i, j : int or int array of the same shape ``[k]``
        Member (and partner) indices; with arrays the result is ``[runs, k]``.

    Returns
    -------
    float64 array, shape ``[runs]`` for scalar ``i, j`` or ``[runs, k]``.
    """
    counter = _counter(step, int(stream), i, j)
    with np.errstate(over="ignore"):
        if counter.ndim == 0:
            z = _mix(keys ^ counter)
        else:
            z = _mix(keys[:, None] ^ counter[None, :])
    return (z >> _S11).astype(np.float64) * _TO_UNIT
