"""Tests for the counter-based random numbers: purity, shapes, uniformity and independence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from cmo_sim.rng import Stream, normalise_seed, run_keys, uniform

N = 100_000

# Pearson correlation of two independent samples of n = 100,000 has standard error
# 1 / sqrt(n) ~= 0.0032, so |corr| < 0.02 is about 6.3 standard errors: a real dependence of
# that size would be caught, while an independent pair exceeds it with probability ~ 3e-10.
CORR_TOL = 0.02

# A KS test against U(0, 1) rejects a truly uniform sample with probability equal to the
# threshold, so at p > 1e-3 a correct generator fails one seed in a thousand. The seeds below
# are fixed, so the outcome is deterministic; a failure means the generator changed.
KS_P_MIN = 1e-3


def keys_for(n: int = N, seed: int = 0, first_replicate: int = 0) -> np.ndarray:
    return run_keys(seed, np.arange(first_replicate, first_replicate + n))


def corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


# -- purity ---------------------------------------------------------------------------------------
def test_same_inputs_same_outputs() -> None:
    keys = keys_for(1000)
    first = uniform(keys, 7, Stream.CONFLICT, np.arange(5), np.arange(5)[::-1])
    second = uniform(keys.copy(), 7, Stream.CONFLICT, np.arange(5), np.arange(5)[::-1])
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(
        uniform(keys, 3, Stream.TASK), uniform(keys_for(1000), 3, int(Stream.TASK))
    )
    np.testing.assert_array_equal(keys, keys_for(1000))


def test_a_keys_draw_does_not_depend_on_its_batch() -> None:
    keys = keys_for(500, seed=11)
    full = uniform(keys, 4, Stream.RESOLUTION, np.array([0, 1, 2]), np.array([1, 2, 0]))
    rng = np.random.default_rng(5)  # a local generator, used only to shuffle
    order = rng.permutation(len(keys))
    shuffled = uniform(keys[order], 4, Stream.RESOLUTION, np.array([0, 1, 2]), np.array([1, 2, 0]))
    np.testing.assert_array_equal(shuffled, full[order])
    for k in (0, 17, 499):
        alone = uniform(
            keys[k : k + 1], 4, Stream.RESOLUTION, np.array([0, 1, 2]), np.array([1, 2, 0])
        )
        np.testing.assert_array_equal(alone[0], full[k])


def test_a_counters_draw_does_not_depend_on_the_other_counters() -> None:
    keys = keys_for(50)
    i = np.array([0, 1, 2, 3])
    j = np.array([3, 2, 1, 0])
    full = uniform(keys, 2, Stream.CONFLICT, i, j)
    for k in range(4):
        np.testing.assert_array_equal(
            uniform(keys, 2, Stream.CONFLICT, int(i[k]), int(j[k])), full[:, k]
        )
    reversed_ = uniform(keys, 2, Stream.CONFLICT, i[::-1], j[::-1])
    np.testing.assert_array_equal(reversed_, full[:, ::-1])


def test_run_keys_are_a_pure_function_of_seed_and_replicate() -> None:
    keys = run_keys(42, np.arange(100))
    np.testing.assert_array_equal(keys, run_keys(42, np.arange(100)))
    np.testing.assert_array_equal(run_keys(42, np.array([57, 3])), keys[[57, 3]])
    assert keys.dtype == np.uint64


# -- shapes and range -----------------------------------------------------------------------------
def test_shapes_and_dtype() -> None:
    keys = keys_for(7)
    scalar = uniform(keys, 0, Stream.TASK)
    assert scalar.shape == (7,)
    assert scalar.dtype == np.float64
    assert uniform(keys, 0, Stream.TASK, 2, 3).shape == (7,)
    assert uniform(keys, 0, Stream.CONFLICT, np.arange(4), np.arange(4)).shape == (7, 4)
    assert uniform(keys, 0, Stream.INITIAL_FAITH, np.arange(3), 0).shape == (7, 3)
    assert uniform(
        keys, 0, Stream.CONFLICT, np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    ).shape == (7, 0)


def test_values_in_unit_interval() -> None:
    draws = uniform(keys_for(), 1, Stream.TASK, np.arange(3), np.arange(3)).ravel()
    assert draws.min() >= 0.0
    assert draws.max() < 1.0
    # 53-bit resolution: 300k draws essentially never repeat.
    assert np.unique(draws).size > 0.999 * draws.size


# -- uniformity -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seed", "step", "stream"),
    [(0, 0, Stream.TASK), (1, 119, Stream.CONFLICT), (2**40 + 3, 5, Stream.INITIAL_TRUST)],
)
def test_ks_uniform_over_runs(seed: int, step: int, stream: Stream) -> None:
    draws = uniform(keys_for(seed=seed), step, stream)
    result = stats.kstest(draws, "uniform")
    assert result.pvalue > KS_P_MIN, result
    assert abs(draws.mean() - 0.5) < 6 * np.sqrt(1 / 12 / N)


def test_ks_uniform_over_counters_of_one_run() -> None:
    # One run's draws along the member axis (i) must be uniform too.
    draws = uniform(keys_for(1, seed=9), 3, Stream.CONFLICT, np.arange(N), 1)[0]
    assert stats.kstest(draws, "uniform").pvalue > KS_P_MIN
    assert abs(corr(draws[:-1], draws[1:])) < CORR_TOL


def test_ks_catches_a_non_uniform_sample() -> None:
    # The KS check has power: a small distortion (u ** 1.05) is detected at the same threshold.
    draws = uniform(keys_for(), 0, Stream.TASK) ** 1.05
    assert stats.kstest(draws, "uniform").pvalue < KS_P_MIN


# -- independence ---------------------------------------------------------------------------------
KEYS = keys_for()


# Pairs of draw coordinates (keys, step, stream, i, j) that differ in one coordinate only;
# "replicates" pairs each run with its neighbour, "far" variants with a distant one.
COORDINATE_PAIRS = {
    "streams": ((KEYS, 5, Stream.TASK, 0, 0), (KEYS, 5, Stream.CONFLICT, 0, 0)),
    "streams 2": ((KEYS, 5, Stream.CONFLICT, 0, 1), (KEYS, 5, Stream.RESOLUTION, 0, 1)),
    "steps": ((KEYS, 5, Stream.TASK, 0, 0), (KEYS, 6, Stream.TASK, 0, 0)),
    "steps far": ((KEYS, 0, Stream.TASK, 0, 0), (KEYS, 256, Stream.TASK, 0, 0)),
    "i": ((KEYS, 5, Stream.CONFLICT, 0, 1), (KEYS, 5, Stream.CONFLICT, 1, 1)),
    "j": ((KEYS, 5, Stream.CONFLICT, 0, 1), (KEYS, 5, Stream.CONFLICT, 0, 2)),
    "i and j swapped": ((KEYS, 5, Stream.CONFLICT, 0, 1), (KEYS, 5, Stream.CONFLICT, 1, 0)),
    "replicates": (
        (KEYS, 5, Stream.TASK, 0, 0),
        (keys_for(first_replicate=1), 5, Stream.TASK, 0, 0),
    ),
    "replicates far": (
        (KEYS, 5, Stream.TASK, 0, 0),
        (keys_for(first_replicate=N), 5, Stream.TASK, 0, 0),
    ),
    "seeds": ((KEYS, 5, Stream.TASK, 0, 0), (keys_for(seed=1), 5, Stream.TASK, 0, 0)),
    "seeds far": ((KEYS, 5, Stream.TASK, 0, 0), (keys_for(seed=2**63), 5, Stream.TASK, 0, 0)),
}


@pytest.mark.parametrize("label", list(COORDINATE_PAIRS))
def test_draws_at_different_coordinates_are_uncorrelated(label: str) -> None:
    first, second = COORDINATE_PAIRS[label]
    x = uniform(*first)
    y = uniform(*second)
    assert not np.array_equal(x, y)
    assert abs(corr(x, y)) < CORR_TOL
    # Rank correlation and the correlation of the draws' lower halves catch non-linear links.
    assert abs(stats.spearmanr(x, y).statistic) < CORR_TOL
    assert abs(corr(x < 0.5, y < 0.5)) < CORR_TOL


def test_run_keys_differ_between_replicates_and_seeds() -> None:
    keys = run_keys(0, np.arange(N))
    assert np.unique(keys).size == N
    other_seed = run_keys(1, np.arange(N))
    assert not np.any(keys == other_seed)
    assert np.unique(np.concatenate([keys, other_seed])).size == 2 * N
    # The keys themselves look random: about half their 6.4M bits are set (SE 0.0002).
    bits = np.unpackbits(keys.view(np.uint8))
    assert abs(bits.mean() - 0.5) < 0.001


# -- seeds ----------------------------------------------------------------------------------------
def test_normalise_seed_int() -> None:
    assert normalise_seed(0) == 0
    assert normalise_seed(12345) == 12345
    assert normalise_seed(np.int64(7)) == 7
    assert isinstance(normalise_seed(np.int64(7)), int)
    assert normalise_seed(2**64 - 1) == 2**64 - 1


def test_normalise_seed_seed_sequence() -> None:
    first = normalise_seed(np.random.SeedSequence(2024))
    assert first == normalise_seed(np.random.SeedSequence(2024))
    assert first != normalise_seed(np.random.SeedSequence(2025))
    assert isinstance(first, int)
    assert 0 <= first < 2**64


def test_normalise_seed_generator() -> None:
    # A local generator built from a fixed seed: the normalised seed is reproducible.
    first = normalise_seed(np.random.default_rng(3))
    assert first == normalise_seed(np.random.default_rng(3))
    assert first != normalise_seed(np.random.default_rng(4))
    assert isinstance(first, int)
    assert 0 <= first < 2**64


@pytest.mark.parametrize(
    "seed", [-1, -(2**70), True, False, 1.0, 0.5, "1", "seed", None, [1]], ids=repr
)
def test_normalise_seed_rejects(seed: Any) -> None:
    with pytest.raises(ValueError, match=r"^seed: "):
        normalise_seed(seed)


def test_seeds_beyond_64_bits_are_rejected_not_wrapped() -> None:
    assert normalise_seed(2**64 - 1) == 2**64 - 1
    with pytest.raises(ValueError, match="seed"):
        normalise_seed(2**64)


# -- the engine's whole index space ---------------------------------------------------------------
# A run draws at counters (step, stream, i, j): step < the run's months, i and j < MAX_MEMBERS.
# Two different counters must never give the same draw word, or two mechanisms (or two months)
# would share their randomness. 1,200 months (a century) covers every run the engine is used for.
INDEX_STEPS = 1200


def test_no_two_counters_of_a_run_collide_over_the_whole_index_space() -> None:
    from cmo_sim.rng import _counter
    from cmo_sim.scenario import MAX_MEMBERS

    ii, jj = np.meshgrid(np.arange(MAX_MEMBERS), np.arange(MAX_MEMBERS), indexing="ij")
    i, j = ii.ravel(), jj.ravel()
    words = np.concatenate([
        _counter(t, int(stream), i, j) for t in range(INDEX_STEPS) for stream in Stream
    ])
    assert words.size == INDEX_STEPS * len(Stream) * MAX_MEMBERS**2  # 1,536,000 counters
    assert np.unique(words).size == words.size
    # And one run's draws (the top 53 bits of each mixed word) are distinct: 219,520 draws
    # from 2**53 values collide by chance with probability about n**2 / 2**54 ~ 3e-6.
    key = keys_for(1, seed=5)
    draws = np.concatenate([
        uniform(key, t, stream, i, j)[0] for t in range(0, INDEX_STEPS, 7) for stream in Stream
    ])
    assert np.unique(draws).size == draws.size


def _recorded_draws(monkeypatch: pytest.MonkeyPatch, module: Any, engine: str) -> list:
    """Every (step, stream, i, j) coordinate one run of an 8-member network draws."""
    import cmo_sim
    from cmo_sim import rng as rng_module
    from cmo_sim.params import compile_params

    seen: list[tuple[int, int, int, int]] = []

    def recording(keys, step, stream, i=0, j=0):
        ia, ja = np.broadcast_arrays(np.asarray(i), np.asarray(j))
        pairs = zip(ia.ravel(), ja.ravel(), strict=True)
        seen.extend((int(step), int(stream), int(a), int(b)) for a, b in pairs)
        return rng_module.uniform(keys, step, stream, i, j)

    monkeypatch.setattr(module, "uniform", recording)
    scenario = cmo_sim.load_scenario({
        "name": "network", "history": 0.3, "members": [{}] * 8,
        "timeline": [{"step": 5, "changes": {"leadership": 0.1}}],
    })
    params = compile_params([scenario], replicates=[3], seed=9)
    if engine == "batch":
        from cmo_sim.core import run
        run(params, 40)
    else:
        from cmo_sim.abm import run_abm
        run_abm(params, 40)
    return seen


@pytest.mark.parametrize("engine", ["batch", "abm"])
def test_each_engine_draws_every_counter_at_most_once_inside_the_index_space(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    import importlib

    from cmo_sim.scenario import MAX_MEMBERS

    module = importlib.import_module("cmo_sim.core.step" if engine == "batch"
                                     else "cmo_sim.abm.model")
    seen = _recorded_draws(monkeypatch, module, engine)
    assert len(seen) > 40  # the run drew every month (task draws at least)
    assert len(set(seen)) == len(seen), "a counter was drawn twice (two uses share randomness)"
    steps, streams, i, j = (np.array(column) for column in zip(*seen, strict=True))
    assert steps.min() >= 0 and steps.max() < INDEX_STEPS
    assert set(streams.tolist()) <= {int(s) for s in Stream}
    assert i.max() < MAX_MEMBERS and j.max() < MAX_MEMBERS and min(i.min(), j.min()) >= 0


# Streams at lagged steps: a draw of one mechanism at month t must not repeat or track a draw of
# another (or the same) mechanism at month t - lag; e.g. a counter of step + stream would make the
# conflict draw at t equal the resolution draw at t - 1.
LAGGED = [
    (first, second, lag)
    for first in Stream for second in Stream for lag in range(4)
    if not (first == second and lag == 0)
]


@pytest.mark.parametrize(("first", "second", "lag"), LAGGED,
                         ids=[f"{a.name}-{b.name}-lag{k}" for a, b, k in LAGGED])
def test_streams_are_independent_at_lagged_steps(first: Stream, second: Stream, lag: int) -> None:
    t = 10
    for i, j in ((0, 1), (2, 0)):
        x = uniform(KEYS, t, first, i, j)
        y = uniform(KEYS, t - lag, second, i, j)
        assert not np.any(x == y)  # 100k equal draws by chance: probability ~ 1e5 x 2**-53
        assert abs(corr(x, y)) < CORR_TOL
        assert abs(corr(x < 0.5, y < 0.5)) < CORR_TOL


def _splitmix64_finaliser(z: int) -> int:
    """The SplitMix64 output function as published (Steele, Lea & Flood 2014; Vigna's
    splitmix64.c): the reference the engine's hash must equal, bit for bit."""
    mask = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_the_hash_is_the_published_splitmix64_finaliser():
    from cmo_sim.rng import _mix, _mix_int

    values = [0, 1, 2**32, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15, 12345678901234567]
    values += [int(v) for v in np.random.default_rng(7).integers(0, 2**63, 50)]
    for value in values:
        assert _mix_int(value) == _splitmix64_finaliser(value), value
    array = np.array(values, dtype=np.uint64)
    assert [int(v) for v in _mix(array)] == [_splitmix64_finaliser(v) for v in values]
