"""Divergence brake (spec 2.7) on hand-made error sequences, and the Decay schedule."""

from __future__ import annotations

import pytest
import torch

from lamina.train.brake import DIVERGENCE_MESSAGE, BrakeDecision, DivergenceBrake
from lamina.train.schedule import AlphaSchedule, set_learning_rate


def feed(brake: DivergenceBrake, errors: list[float]) -> list[BrakeDecision]:
    return [brake.observe(e) for e in errors]


def test_spike_after_warmup_skips_one_update_then_brakes_24() -> None:
    brake = DivergenceBrake()
    out = feed(brake, [1.0] * 100)
    assert out == [(False, 1.0)] * 100
    spike = brake.observe(5.0)  # moving average ~1.4: 5 > 2.8
    assert spike == (True, 0.1)
    assert brake.last_event == DIVERGENCE_MESSAGE
    out = feed(brake, [1.0] * 30)
    assert out[:24] == [(False, 0.1)] * 24  # applied at 0.1 x alpha
    assert out[24:] == [(False, 1.0)] * 6
    assert brake.last_event is None


def test_no_detection_during_warmup_or_below_threshold() -> None:
    brake = DivergenceBrake()
    errors = [1.0] * 50 + [100.0] + [1.0] * 49  # the spike is inside the 100 warm-up minibatches
    assert all(d == (False, 1.0) for d in feed(brake, errors))
    brake.reset()
    feed(brake, [1.0] * 100)
    assert brake.observe(2.0) == (False, 1.0)  # 2.0 < 2 * (0.9 * ~1 + 0.2)


def test_second_spike_while_braking_restarts_the_brake() -> None:
    brake = DivergenceBrake()
    feed(brake, [1.0] * 100)
    assert brake.observe(10.0).skip_update
    feed(brake, [1.0] * 5)
    assert brake.observe(50.0) == (True, 0.1)
    assert feed(brake, [1.0] * 24) == [(False, 0.1)] * 24


def test_disabled_brake_never_intervenes() -> None:
    brake = DivergenceBrake(enabled=False)
    assert all(d == (False, 1.0) for d in feed(brake, [1.0] * 100 + [1e9]))


def test_brake_resume_matches_uninterrupted() -> None:
    errors = [1.0] * 100 + [9.0] + [1.0] * 10
    ref = feed(DivergenceBrake(), errors)
    first = DivergenceBrake()
    feed(first, errors[:103])
    second = DivergenceBrake()
    second.load_state_dict(dict(first.state_dict()))
    assert feed(second, errors[103:]) == ref[103:]


def test_alpha_schedule_counts_applied_updates() -> None:
    sched = AlphaSchedule(alpha=0.1, decay=0.5)
    seen = []
    for _ in range(3):
        seen.append(sched.alpha_now())
        sched.step()
    assert seen == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 2.0])  # first update uses alpha itself
    resumed = AlphaSchedule(alpha=1.0)
    resumed.load_state_dict(sched.state_dict())
    assert resumed.alpha_now() == pytest.approx(0.1 / 2.5)
    flat = AlphaSchedule(alpha=0.2, decay=0.0)
    flat.step()
    assert flat.alpha_now() == 0.2


def test_set_learning_rate_sets_every_group() -> None:
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    set_learning_rate(opt, 0.25)
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.25]
