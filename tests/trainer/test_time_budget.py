"""The training time budget stops between epochs, and inside an epoch longer than itself."""

from __future__ import annotations

import time

import keras
import numpy as np

from dpk.trainer.training.callbacks import TimeBudget


class SlowBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        time.sleep(0.05)


def fit_with(budget: TimeBudget, epochs: int) -> SlowBatches:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((64, 4), np.float32), np.zeros((64, 1), np.float32)
    slow = SlowBatches()
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, callbacks=[slow, budget])
    return slow


def test_an_epoch_longer_than_the_budget_is_cut_short():
    budget = TimeBudget(minutes=0.2 / 60)  # 0.2 s; one epoch is 16 batches of 50 ms
    slow = fit_with(budget, epochs=3)
    assert budget.stopped_for_time
    assert 1 <= slow.batches < 16  # the first batch (tracing included) may spend it all


def test_no_budget_runs_every_epoch():
    budget = TimeBudget(minutes=None)
    slow = fit_with(budget, epochs=2)
    assert not budget.stopped_for_time and slow.batches == 32
